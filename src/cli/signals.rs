//! SIGTERM/SIGINT as an orderly shutdown request: the signals are blocked in every thread and
//! received by one thread with `sigwait`, which records the signal, wakes sleepers and runs a
//! hook (serve uses it to wake its event loop). No async-signal-unsafe code runs in a handler.
//!
//! Work that can block for long (an exchange: discovery, retries, a slow federated-token
//! source) runs on its own thread through [`Shutdown::run`], so the calling thread can return
//! at once when a signal arrives: the process then exits without waiting for it.
//!
//! Exit codes: `serve` and `write --watch` stop with 0 (a signal is how a sidecar is stopped);
//! a one-shot command (`token`, `write` without `--watch`) interrupted before it is done exits
//! with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), the shell convention.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often a caller blocked in [`Shutdown::run`] checks for a signal.
const CHECK: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct Shutdown {
    state: Arc<(Mutex<Option<i32>>, Condvar)>,
}

impl Shutdown {
    /// Block SIGTERM and SIGINT in this thread (and so in threads it starts later) and start
    /// the thread that waits for them. Call before starting other threads.
    pub fn install(on_signal: impl Fn() + Send + 'static) -> Shutdown {
        Shutdown::install_dyn(Box::new(on_signal))
    }

    // One copy of the thread start for every hook (a generic body would be duplicated per
    // closure type in the size-budgeted static binary).
    fn install_dyn(on_signal: Box<dyn Fn() + Send>) -> Shutdown {
        let state = Arc::new((Mutex::new(None), Condvar::new()));
        // SAFETY: plain libc calls on a local, initialised sigset_t.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        let waiter = state.clone();
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid sigset_t; `sig` is a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                *waiter.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(sig);
                waiter.1.notify_all();
                on_signal();
            }
        });
        Shutdown { state }
    }

    /// The signal received, if any.
    pub fn signal(&self) -> Option<i32> {
        *self.state.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleep up to `d`; true when a shutdown signal arrived (before or during the sleep).
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .state
            .1
            .wait_timeout_while(guard, d, |s| s.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.is_some()
    }

    /// Run `work` on its own thread and wait for its result, or for a signal: `Err(signal)`
    /// then, and the thread is left behind (the caller is expected to exit soon).
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, i32> {
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        self.run_dyn(Box::new(move || {
            let v = work();
            *filled.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        }))?;
        // `run_dyn` returned Ok: the work finished and stored its result.
        let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        v.ok_or(libc::SIGABRT)
    }

    // The thread and the wait, once for every `T` and closure type (see `install_dyn`). A
    // flag and condition variable rather than a channel: std's channel code costs the
    // size-budgeted static binary more.
    fn run_dyn(&self, work: Box<dyn FnOnce() + Send>) -> Result<(), i32> {
        if let Some(sig) = self.signal() {
            return Err(sig);
        }
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let finished = Finished(done.clone());
        std::thread::spawn(move || {
            let _finished = finished;
            work();
        });
        let mut over = done.0.lock().unwrap_or_else(|p| p.into_inner());
        // Done or not, a panicked work (its message already on stderr) sets the flag too and
        // leaves no result: `run` then ends as an interrupted command would.
        while !*over {
            if let Some(sig) = self.signal() {
                return Err(sig);
            }
            over = done
                .1
                .wait_timeout(over, CHECK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }
}

/// Sets its flag and wakes the waiter when dropped: when the work returns or panics.
struct Finished(Arc<(Mutex<bool>, Condvar)>);

impl Drop for Finished {
    fn drop(&mut self) {
        *self.0.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.1.notify_all();
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGABRT => "an internal error",
        _ => "signal",
    }
}

/// The exit code of a one-shot command interrupted by `sig`: 128 + its number.
pub fn exit_code(sig: i32) -> u8 {
    (128 + sig.clamp(0, 127)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    // No `install`: blocking SIGTERM/SIGINT would leak into the test harness.
    fn shutdown() -> Shutdown {
        Shutdown {
            state: Arc::new((Mutex::new(None), Condvar::new())),
        }
    }

    #[test]
    fn run_returns_the_result_a_panic_or_the_signal() {
        let s = shutdown();
        assert_eq!(s.run(|| 42), Ok(42));
        let slow = s.run(|| {
            std::thread::sleep(Duration::from_millis(60));
            "late"
        });
        assert_eq!(slow, Ok("late"));
        assert_eq!(
            s.run(|| -> u8 { panic!("work failed") }),
            Err(libc::SIGABRT)
        );
        *s.state.0.lock().unwrap() = Some(libc::SIGTERM);
        assert_eq!(s.run(|| 1), Err(libc::SIGTERM));
    }

    #[test]
    fn run_returns_at_a_signal_during_the_work() {
        let s = shutdown();
        let signaller = s.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            *signaller.state.0.lock().unwrap() = Some(libc::SIGINT);
        });
        let t0 = std::time::Instant::now();
        assert_eq!(
            s.run(|| std::thread::sleep(Duration::from_secs(30))),
            Err(libc::SIGINT)
        );
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }
}
