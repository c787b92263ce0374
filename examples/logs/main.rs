//! Log streaming to the browser.
//!
//! ```text
//! cargo run -p tidings-example-logs --example logs                       # tails a log it writes itself
//! LOG_FILE=/var/log/syslog cargo run -p tidings-example-logs --example logs
//! ```
//!
//! Then open the printed address (`/?contains=ERROR` filters; `/?lines=5` ends each stream
//! after 5 lines, and the browser resumes where it stopped). `ADDR` sets the address to listen
//! on (default `127.0.0.1:8080`).

use std::time::Duration;

use tidings_example_logs as logs;
use tidings_examples::serve_page;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_examples::log_to_stderr("warn");
    let (file, demo) = match std::env::var_os("LOG_FILE") {
        Some(file) => (file.into(), false),
        None => {
            let file =
                std::env::temp_dir().join(format!("tidings-demo-{}.log", std::process::id()));
            // A fresh demo log, so that its lines are numbered from 1.
            std::fs::write(&file, "")?;
            tokio::spawn(logs::write_demo_log(
                file.clone(),
                Duration::from_millis(200),
            ));
            (file, true)
        }
    };
    println!("tailing {}", file.display());
    let served = serve_page("logs", logs::PAGE, logs::app(file.clone())).await;
    if demo {
        let _ = std::fs::remove_file(&file);
    }
    served
}
