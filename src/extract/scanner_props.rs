//! Property tests for the scanner: any valid event embedded anywhere in
//! arbitrary text is found exactly once, and no text makes it panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::scanner::Scanner;

/// Strings that stress the scanner: tags, quotes, escapes, Unicode.
fn nasty_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("</EVENT>".to_string()),
            Just("<EVENT>".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("{}".to_string()),
            "[a-z é🦀\n\t]{0,8}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e15f64..1e15).prop_map(|f| json!(f)),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Map<String, Value>> {
    (
        "[a-z][a-zA-Z0-9]{0,8}\\.[a-z][a-zA-Z0-9_]{0,12}",
        json_value(),
    )
        .prop_map(|(name, attrs)| {
            let mut m = Map::new();
            m.insert("name".into(), Value::String(name));
            m.insert("attributes".into(), json!({ "value": attrs }));
            m
        })
}

/// Text around a marker: anything that does not itself open a marker.
fn surrounding() -> impl Strategy<Value = String> {
    prop_oneof!["(?s).{0,40}", nasty_string()].prop_map(|s| s.replace("<EVENT>", "<EV3NT>"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_valid_event_anywhere_is_found_exactly_once(
        ev in event(),
        before in surrounding(),
        after in surrounding(),
        pretty in any::<bool>(),
        pad in "[ \n\t]{0,3}",
    ) {
        let body = if pretty { serde_json::to_string_pretty(&ev).unwrap() } else { serde_json::to_string(&ev).unwrap() };
        let text = format!("{before}<EVENT>{pad}{body}{pad}</EVENT>{after}");
        let found = Scanner::new(1 << 20).scan_all(&text);
        let valid: Vec<_> = found.iter().filter(|m| m.event.is_ok()).collect();
        prop_assert_eq!(valid.len(), 1, "text: {:?}", text);
        prop_assert_eq!(valid[0].event.as_ref().unwrap(), &ev);
        prop_assert_eq!(valid[0].offset, before.len());
        prop_assert_eq!(&valid[0].raw, &format!("<EVENT>{pad}{body}{pad}</EVENT>"));
    }

    #[test]
    fn several_events_are_each_found_in_order(evs in prop::collection::vec(event(), 1..5), sep in surrounding()) {
        let text: String = evs.iter().map(|e| format!("<EVENT>{}</EVENT>{sep}", serde_json::to_string(e).unwrap())).collect();
        let found: Vec<_> = Scanner::new(1 << 20).scan_all(&text).into_iter().map(|m| m.event.unwrap()).collect();
        prop_assert_eq!(found, evs);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,300}", tagged in nasty_string(), cap in 16usize..400) {
        for t in [&text, &tagged, &format!("{tagged}{text}{tagged}")] {
            for m in Scanner::new(cap).scan_all(t) {
                // Raw text is a slice of the input starting at the tag, within the cap.
                prop_assert!(t[m.offset..].starts_with(&m.raw));
                prop_assert!(m.raw.starts_with("<EVENT>"));
                prop_assert!(m.raw.len() <= cap.max(17));
            }
        }
    }
}
