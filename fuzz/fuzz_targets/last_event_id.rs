//! `Last-Event-ID` against a hub: any id resumes right after an event that was published,
//! or resets; never a panic, never a resume from nowhere. Ids that parse print back the same.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tidings::event_stream;
use tidings::hub::{EventId, Hub, HubStorage, Start};

#[event_stream]
#[derive(Debug, Clone)]
enum Count {
    Count(u64),
}

static HUB: LazyLock<(tokio::runtime::Runtime, Hub<Count>, Vec<EventId>)> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hub = Hub::new();
    let ids = runtime.block_on(async {
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(hub.publish(Count::Count(n)).await.unwrap());
        }
        ids
    });
    (runtime, hub, ids)
});

fuzz_target!(|input: &[u8]| {
    let (runtime, hub, ids) = &*HUB;
    let text = String::from_utf8_lossy(input);
    let parsed = text.parse::<EventId>();
    if let Ok(id) = parsed {
        assert_eq!(id.to_string().parse::<EventId>().ok(), Some(id));
    }
    let start = runtime.block_on(hub.storage().start(Some(&text)));
    if let Ok(Start::Resume(cursor)) = start {
        let id = parsed.expect("a resume comes from an id that parses");
        assert!(ids.contains(&id), "a resume names a published event: {id}");
        assert_eq!(cursor.next_seq, id.seq + 1);
    }
});
