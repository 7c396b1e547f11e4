//! Background work that runs inside the server process: the one place periodic jobs are
//! registered (the notification outbox, bean expiry and overdue wish claims now; later
//! reminders and vote closing). Every job is safe with several processes running, because it claims its work
//! in the database. `stop` asks them to finish and waits.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

pub fn start(state: &AppState) -> Jobs {
    let (stop, stopped) = watch::channel(false);
    let mut handles = Vec::new();
    if state.settings.notifications.worker_enabled {
        handles.push(tokio::spawn(crate::notifications::worker::run(
            state.clone(),
            stopped.clone(),
        )));
    }
    if state.settings.points.expiry_job_enabled {
        handles.push(tokio::spawn(crate::points::expiry::run(
            state.clone(),
            stopped.clone(),
        )));
    }
    if state.settings.wishes.release_job_enabled {
        handles.push(tokio::spawn(crate::wishes::service::run_release_job(
            state.clone(),
            stopped.clone(),
        )));
    }
    Jobs { stop, handles }
}

impl Jobs {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}
