//! SIGTERM/SIGINT as an orderly shutdown request: the signals are blocked in every thread and
//! received by one thread with `sigwait`, which flips a flag, wakes sleepers and runs a hook
//! (serve uses it to unblock `accept`). No async-signal-unsafe code runs in a handler.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Shutdown {
    state: Arc<(Mutex<Option<i32>>, Condvar)>,
}

impl Shutdown {
    /// Block SIGTERM and SIGINT in this thread (and so in threads it starts later) and start
    /// the thread that waits for them. Call before starting other threads.
    pub fn install(on_signal: impl Fn() + Send + 'static) -> Shutdown {
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
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}
