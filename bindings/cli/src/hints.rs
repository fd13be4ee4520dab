//! One clear line per error, and a hint at what to do about it.

use provisio::{Error, ErrorKind};

/// A hint for `err`, when there is a useful one.
pub(crate) fn hint(err: &Error) -> Option<String> {
    let msg = err.message();
    if msg.contains("required secret variable") {
        let var = msg.rsplit('"').nth(1).unwrap_or("NAME");
        return Some(format!(
            "set {} in the environment, or pass --secret-env {var}=ENV_VAR",
            crate::session::secret_env_name(var)
        ));
    }
    if msg.contains("required variable") {
        return Some("pass it with --var KEY=VALUE or --vars-file FILE".into());
    }
    if err.kind() == &ErrorKind::Conflict && err.operation() == Some("state.lease") {
        return Some(
            "another run holds this tenant; if that runner died, run `provisio state unlock --tenant <name>`"
                .into(),
        );
    }
    Some(
        match err.kind() {
            ErrorKind::NotFound => "check the path or name above",
            ErrorKind::InvalidInput => "fix the field named above and run again",
            ErrorKind::Protected => {
                "the resource is protected; pass --allow <resource> to override, if you mean it"
            }
            ErrorKind::Unauthenticated | ErrorKind::PermissionDenied => {
                "check the provider's credentials in the environment (see docs/providers/)"
            }
            ErrorKind::RateLimited { .. } | ErrorKind::Transient | ErrorKind::Timeout => {
                "the provider is busy or unreachable; run the same command again (it resumes safely)"
            }
            ErrorKind::Conflict | ErrorKind::AlreadyExists => {
                "something else changed the resource; run `provisio plan` to see the difference"
            }
            ErrorKind::Cancelled => "the run was cancelled; run the same command again to finish it",
            _ => return None,
        }
        .to_string(),
    )
}

/// Prints `err` as one line plus a hint, on stderr.
pub(crate) fn print(err: &Error) {
    let line = err.to_string().replace('\n', " ");
    eprintln!("error: {line}");
    if let Some(h) = hint(err) {
        eprintln!("hint: {h}");
    }
}
