//! Walks the day folders in time order and yields the records that match a
//! filter, reading only the files their names do not rule out and parsing
//! only those whose bytes could match.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use super::events_dir::{Day, EventsDir, Scope};
use super::file_name::FileName;
use super::filter::Filter;
use super::found::Found;
use super::problems::Problems;
use super::reader::{parse_record, read_record};
use crate::enrich::Record;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// The folder being read: its descriptor and remaining files.
struct Open {
    day: Day,
    fd: Option<OwnedFd>,
    files: VecDeque<FileName>,
}

pub struct Scan<'a> {
    dir: &'a EventsDir,
    filter: &'a Filter,
    order: Order,
    days: VecDeque<Day>,
    open: Option<Open>,
    buf: Vec<u8>,
    problems: Problems,
    /// Files opened and read.
    pub files_read: usize,
}

impl<'a> Scan<'a> {
    /// Days are visited by date (valid before invalid on the same date),
    /// files by name, which is time order.
    pub fn new(dir: &'a EventsDir, filter: &'a Filter, scope: Scope, order: Order) -> Scan<'a> {
        let mut problems = Problems::new();
        let mut days: Vec<Day> = scope
            .kinds()
            .iter()
            .flat_map(|k| dir.days(*k, &mut problems))
            .filter(|d| filter.day_may_match(&d.date))
            .collect();
        days.sort_by(|a, b| a.date.cmp(&b.date));
        if order == Order::NewestFirst {
            days.reverse();
        }
        Scan {
            dir,
            filter,
            order,
            days: days.into(),
            open: None,
            buf: Vec::with_capacity(64 * 1024),
            problems,
            files_read: 0,
        }
    }

    /// The next file whose name the filter does not rule out, without
    /// reading it.
    pub fn next_file(&mut self) -> Option<(Day, FileName)> {
        loop {
            if let Some(open) = &mut self.open {
                let next = match self.order {
                    Order::OldestFirst => open.files.pop_front(),
                    Order::NewestFirst => open.files.pop_back(),
                };
                match next {
                    Some(f) if self.filter.file_may_match(&f) => {
                        return Some((open.day.clone(), f));
                    }
                    Some(_) => continue,
                    None => self.open = None,
                }
            }
            let day = self.days.pop_front()?;
            let files = self.dir.files(&day, &mut self.problems);
            self.open = Some(Open {
                day,
                fd: None,
                files: files.into(),
            });
        }
    }

    /// Reads and parses one file of the current folder; `None` (reported)
    /// when it is not a readable record, or its bytes rule it out.
    fn read(&mut self, file: &FileName) -> Option<Record> {
        let open = self.open.as_mut()?;
        if open.fd.is_none() {
            match self.dir.open_day(&open.day) {
                Ok(fd) => open.fd = Some(fd),
                Err(e) => {
                    self.problems.skip(&open.day.path, e.message());
                    open.files.clear();
                    return None;
                }
            }
        }
        let fd = open.fd.as_ref()?;
        self.files_read += 1;
        if let Err(e) = read_record(fd, file.as_str(), &mut self.buf) {
            self.problems.skip(&open.day.path.join(file.as_str()), &e);
            return None;
        }
        if !self.filter.bytes_may_match(&self.buf) {
            return None;
        }
        match parse_record(&self.buf) {
            Ok(r) => Some(r),
            Err(why) => {
                self.problems.skip(&open.day.path.join(file.as_str()), &why);
                None
            }
        }
    }

    /// Ends the scan: says how many files were skipped, past those named.
    pub fn finish(self) -> Problems {
        self.problems.finish();
        self.problems
    }
}

impl Scan<'_> {
    /// The next matching record and the day folder it is in.
    pub fn next_with_day(&mut self) -> Option<(Day, Found)> {
        loop {
            let (day, file) = self.next_file()?;
            let Some(record) = self.read(&file) else {
                continue;
            };
            if !self.filter.matches(&record) {
                continue;
            }
            let found = Found {
                kind: day.kind,
                file,
                record,
            };
            return Some((day, found));
        }
    }
}

impl Iterator for Scan<'_> {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        self.next_with_day().map(|(_, found)| found)
    }
}
