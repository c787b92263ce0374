#[derive(tidings::Validate)]
enum NotAStruct {
    A,
}

fn main() {}
