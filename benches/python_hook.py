"""The same hook in plain Python: the baseline event-publisher is measured
against (benches/hook.rs). Reads a hook payload on stdin, scans the strings
of tool_response / last_assistant_message for <EVENT> markers with
json.JSONDecoder.raw_decode, validates each against schemas/<name>.schema.json
with the jsonschema package, and writes one JSON file per event."""
import hashlib, json, os, sys, uuid, datetime
import jsonschema

OPEN, CLOSE = "<EVENT>", "</EVENT>"
decoder = json.JSONDecoder()


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)


def markers(text):
    pos = 0
    while (i := text.find(OPEN, pos)) >= 0:
        start = i + len(OPEN)
        pos = start
        try:
            value, end = decoder.raw_decode(text, start + (len(text[start:]) - len(text[start:].lstrip())))
        except ValueError:
            yield None
            continue
        rest = text[end:].lstrip()
        if rest.startswith(CLOSE) and isinstance(value, dict):
            yield value
            pos = len(text) - len(rest) + len(CLOSE)
        else:
            yield None


def main():
    payload = json.load(sys.stdin)
    schemas_dir, events_dir = os.environ["SCHEMAS_DIR"], os.environ["EVENTS_DIR"]
    hook = payload.get("hook_event_name")
    texts = []
    if hook == "PostToolUse":
        texts = list(strings(payload.get("tool_response")))
    elif hook in ("SubagentStop", "Stop"):
        texts = [payload.get("last_assistant_message") or ""]
    session = payload.get("session_id", "")
    for text in texts:
        for n, event in enumerate(markers(text)):
            if event is None:
                continue
            with open(os.path.join(schemas_dir, event["name"] + ".schema.json")) as f:
                schema = json.load(f)
            valid = not list(jsonschema.Draft202012Validator(schema).iter_errors(event))
            digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
            eid = uuid.uuid5(uuid.NAMESPACE_URL, f"{session}\n{digest}\n{n}")
            now = datetime.datetime.now(datetime.timezone.utc)
            record = {"id": str(eid), "name": event["name"], "valid": valid,
                      "timestamp": event.get("timestamp") or now.isoformat(),
                      "attributes": event.get("attributes", {}),
                      "trace_id": hashlib.sha256(("event-publisher/trace/" + session).encode()).hexdigest()[:32]}
            day = os.path.join(events_dir, now.strftime("%Y-%m-%d"))
            os.makedirs(day, exist_ok=True)
            tmp = os.path.join(day, f".{eid}.tmp")
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.replace(tmp, os.path.join(day, f"{eid}.json"))


main()
