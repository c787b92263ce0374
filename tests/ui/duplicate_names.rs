use tidings::event_stream;

#[event_stream]
enum Twice {
    Done,
    #[event(rename = "done")]
    Finished,
}

#[event_stream(rename_all = "lowercase")]
enum AfterRenameAll {
    JobDone,
    Jobdone,
}

fn main() {}
