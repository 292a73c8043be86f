//! What a person sees while a run goes: a progress line on a terminal, plain periodic log lines
//! otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use onfs_pipeline::Counters;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Counter = Box<dyn Fn() -> u64 + Send + Sync>;

pub struct Progress {
    pub counts: Arc<Counters>,
    delivered: Arc<Mutex<Option<Counter>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(quiet: bool) -> Progress {
        let counts = Arc::new(Counters::default());
        let delivered: Arc<Mutex<Option<Counter>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!quiet).then(|| {
            let (counts, delivered, stop) = (counts.clone(), delivered.clone(), stop.clone());
            std::thread::spawn(move || report_loop(&counts, &delivered, &stop))
        });
        Progress {
            counts,
            delivered,
            stop,
            thread,
        }
    }

    /// Shows delivered rows too (Kafka output).
    pub fn set_delivered(&self, counter: impl Fn() -> u64 + Send + Sync + 'static) {
        *self.delivered.lock().unwrap() = Some(Box::new(counter));
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn report_loop(counts: &Counters, delivered: &Mutex<Option<Counter>>, stop: &AtomicBool) {
    let started = Instant::now();
    let line = || {
        let read = counts.rows_read.load(Ordering::Relaxed);
        let encoded = counts.rows_encoded.load(Ordering::Relaxed);
        let messages = counts.messages.load(Ordering::Relaxed);
        let rate = encoded as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let mut s = format!("{read} rows read, {encoded} encoded into {messages} messages");
        if let Some(d) = delivered.lock().unwrap().as_ref() {
            let d = d();
            s.push_str(&format!(", {d} delivered"));
            if encoded > 0 && d > 0 && d < encoded {
                let drate = d as f64 / started.elapsed().as_secs_f64().max(1e-3);
                s.push_str(&format!(" (ETA {:.0}s)", (encoded - d) as f64 / drate));
            }
        }
        s.push_str(&format!(", {rate:.0} rows/s"));
        s
    };
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .expect("valid template"),
        );
        while !stop.load(Ordering::Relaxed) {
            bar.set_message(line());
            bar.tick();
            std::thread::sleep(Duration::from_millis(200));
        }
        bar.finish_and_clear();
    } else {
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= Duration::from_secs(10) {
                tracing::info!("progress: {}", line());
                last = Instant::now();
            }
        }
    }
}
