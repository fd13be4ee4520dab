//! Run-time inputs: checking a tenant against the blueprint and resolving a resource's parameters.

use super::{Blueprint, bad, in_resource};
use crate::resource::Tenant;
use crate::template::{Reference, Template, map_strings};
use provisio::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

impl Blueprint {
    /// Checks that the tenant gives what the blueprint needs: a valid name, every required
    /// plain variable and every required secret variable.
    pub fn check_tenant(&self, tenant: &Tenant) -> Result<()> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        for (name, var) in &self.variables {
            if !var.is_required() {
                continue;
            }
            let given = if var.secret {
                tenant.secrets.contains_key(name)
            } else {
                tenant.vars.contains_key(name)
            };
            if !given {
                return Err(Error::invalid_field(
                    "tenant",
                    format!(
                        "tenant {:?} has no value for required {}variable {name:?}",
                        tenant.name,
                        if var.secret { "secret " } else { "" }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The secret variables the blueprint declares, each read from the environment variable
    /// [`secret_env_var`] names (`smtp_password` from `PROVISIO_SECRET_SMTP_PASSWORD`), or from
    /// the one `env` maps it to. Unset and empty variables are left out (a required one is then
    /// reported by [`Blueprint::check_tenant`]). This is how the CLI and fleet workers get
    /// secrets: from their own environment, never from a command line, a file or a message.
    pub fn secrets_from_env(
        &self,
        env: &BTreeMap<String, String>,
    ) -> BTreeMap<String, provisio::SecretString> {
        self.variables
            .iter()
            .filter(|(_, v)| v.secret)
            .filter_map(|(k, _)| {
                let name = env.get(k).cloned().unwrap_or_else(|| secret_env_var(k));
                std::env::var(&name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (k.clone(), provisio::SecretString::from(v)))
            })
            .collect()
    }

    /// The value of a plain tenant variable: the tenant's, else the default, else `null`.
    pub fn variable_value(&self, tenant: &Tenant, key: &str) -> Value {
        tenant
            .vars
            .get(key)
            .cloned()
            .or_else(|| self.variables.get(key).and_then(|v| v.default.clone()))
            .unwrap_or(Value::Null)
    }

    /// Resolves `resource`'s parameters. `outputs` holds the outputs of the upstream
    /// resources that are known; a reference to one that is not known renders as
    /// [`crate::template::KNOWN_AFTER_APPLY`]. A reference to a known resource whose outputs
    /// lack the key is an `InvalidInput` error.
    pub fn resolve(
        &self,
        resource: &str,
        tenant: &Tenant,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<Value> {
        let spec = self
            .resources
            .get(resource)
            .ok_or_else(|| Error::invalid_input(format!("no resource named {resource:?}")))?;
        let resolved = map_strings(&spec.params, "params", &mut |path, s| {
            let t = Template::parse(s).map_err(|e| bad(resource, format!("{path}: {e}")))?;
            if t.is_literal() {
                // keep escapes resolved ("$${" -> "${")
                return t.render::<Error>(|_| Ok(None));
            }
            t.render(|r| match r {
                Reference::TenantName => Ok(Some(Value::String(tenant.name.clone()))),
                Reference::TenantVar(v) => Ok(Some(self.variable_value(tenant, v))),
                Reference::Output {
                    resource: up,
                    key,
                    path: sub,
                } => {
                    let Some(outs) = outputs.get(up) else {
                        return Ok(None);
                    };
                    let mut cur = outs.get(key).ok_or_else(|| {
                        bad(
                            resource,
                            format!("{path}: {r}: resource {up:?} has no output {key:?}"),
                        )
                    })?;
                    for k in sub {
                        cur = cur.get(k).ok_or_else(|| {
                            bad(
                                resource,
                                format!("{path}: {r}: output {key:?} of {up:?} has no key {k:?}"),
                            )
                        })?;
                    }
                    Ok(Some(cur.clone()))
                }
            })
        })?;
        if self.templates.is_none() && crate::render::check(&resolved, None).is_ok() {
            return Ok(resolved);
        }
        let plain = self
            .variables
            .iter()
            .filter(|(_, v)| !v.secret)
            .map(|(k, _)| (k.clone(), self.variable_value(tenant, k)));
        let context = crate::render::tenant_context(tenant, plain);
        crate::render::render(&resolved, self.templates.as_ref(), &context)
            .map_err(|e| in_resource(resource, e))
    }
}

/// The environment variable a secret variable is read from by default: `PROVISIO_SECRET_` and
/// the variable's name in upper case, with every character but ASCII letters and digits as `_`.
///
/// ```
/// assert_eq!(provisio_engine::blueprint::secret_env_var("smtp_password"), "PROVISIO_SECRET_SMTP_PASSWORD");
/// ```
pub fn secret_env_var(key: &str) -> String {
    let mut s = String::from("PROVISIO_SECRET_");
    s.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    s
}
