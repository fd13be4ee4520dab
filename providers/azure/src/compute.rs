//! [`AzureCompute`]: virtual machines through Resource Manager (api-version 2024-11-01).
//!
//! * Idempotency: before creating, the VMs of the resource group are searched for one with the
//!   spec's name and ownership tags (VM tags); a live match is returned `Unchanged`. The create
//!   is a PUT with `If-None-Match: *`, so a name taken in the meantime is a `Conflict`, never a
//!   silent overwrite. The idempotency key is kept in the `provisio:idempotency-key` tag.
//! * Create and delete are long-running operations, polled to the end.
//! * Networking is simplified: the VM creates its own NIC (and public IP, when
//!   `public_ip = true`) through `networkInterfaceConfigurations` in the subnet `subnet_id`,
//!   both deleted with the VM (`deleteOption: Delete`). Addresses are read from the NIC and
//!   public IP resources.
//! * Instance ids are the VM's ARM resource id; a bare VM name is accepted too and looked up in
//!   the configured resource group.
//! * Stop and start are not supported yet ([`ComputeCapabilities::stop_start`] is false):
//!   the Azure contract provisio is tested against (`shared/contracts/azure/NOTES.md`, and the
//!   fake that follows it) covers VM create and delete only, not the `powerOff`,
//!   `deallocate` and `start` actions, so an implementation could not be checked against
//!   anything. Both calls are `Unsupported` and send no request.

use crate::client::{Arm, Core};
use crate::error::PROVIDER;
use crate::lro;
use async_trait::async_trait;
use base64::Engine;
use provisio::compute::{ComputeCapabilities, Instance, InstanceSpec, InstanceState};
use provisio::{Compute, Deleted, Ensured, Error, Provider, ProviderInfo, Result, Tags, validate};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The Compute api-version.
pub const COMPUTE_API_VERSION: &str = "2024-11-01";
/// The Network api-version (NICs, public IPs).
pub const NETWORK_API_VERSION: &str = "2024-05-01";
/// The tag holding a launch's idempotency key.
pub const IDEMPOTENCY_TAG: &str = "provisio:idempotency-key";

/// Azure virtual machines as [`Compute`].
pub struct AzureCompute {
    arm: Arm,
}

impl AzureCompute {
    pub(crate) fn new(core: Arc<Core>) -> Result<Self> {
        Ok(AzureCompute {
            arm: Arm::new(core)?,
        })
    }

    fn vm_path(&self, name: &str) -> String {
        self.arm
            .rg_path(&format!("Microsoft.Compute/virtualMachines/{name}"))
    }

    /// The ARM path of an instance id (a resource id or a bare name).
    fn path_of(&self, id: &str) -> Result<String> {
        if id.starts_with("/subscriptions/") {
            if !id.contains("/providers/Microsoft.Compute/virtualMachines/")
                || id.contains(['?', '#'])
            {
                return Err(Error::invalid_field(
                    "instance id",
                    format!("{id:?} is not a virtual machine resource id"),
                ));
            }
            return Ok(id.to_string());
        }
        Ok(self.vm_path(&vm_name("instance id", id)?))
    }

    fn err(e: Error, op: &str, resource: &str) -> Error {
        e.in_context(PROVIDER, op)
            .with_resource(resource.to_string())
    }

    async fn read(&self, path: &str) -> Result<Option<Value>> {
        let url = self
            .arm
            .url(&format!("{path}?$expand=instanceView"), COMPUTE_API_VERSION);
        let resp = self.arm.call(Method::GET, &url, None, &[]).await?;
        match resp.status {
            200 => Ok(Some(resp.json()?)),
            404 => Ok(None),
            _ => Err(resp.json_error()),
        }
    }

    async fn instance(&self, vm: &Value) -> Result<Instance> {
        let mut inst = to_instance(vm);
        if inst.state.is_terminal() {
            return Ok(inst);
        }
        // Addresses live on the NIC and the public IP resources.
        if let Some(nic) = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"].as_str()
        {
            let url = self.arm.url(nic, NETWORK_API_VERSION);
            let resp = self.arm.call(Method::GET, &url, None, &[]).await?;
            if resp.status == 200 {
                let nic: Value = resp.json()?;
                let ipc = &nic["properties"]["ipConfigurations"][0]["properties"];
                inst.private_ip = ipc["privateIPAddress"].as_str().map(str::to_string);
                if let Some(pip) = ipc["publicIPAddress"]["id"].as_str() {
                    let url = self.arm.url(pip, NETWORK_API_VERSION);
                    let resp = self.arm.call(Method::GET, &url, None, &[]).await?;
                    if resp.status == 200 {
                        let pip: Value = resp.json()?;
                        inst.public_ip =
                            pip["properties"]["ipAddress"].as_str().map(str::to_string);
                    }
                }
            } else if resp.status != 404 {
                return Err(resp.json_error());
            }
        }
        Ok(inst)
    }

    async fn list_all(&self) -> Result<Vec<Value>> {
        let mut url = self.arm.url(
            &self.arm.rg_path("Microsoft.Compute/virtualMachines"),
            COMPUTE_API_VERSION,
        );
        let mut out = Vec::new();
        loop {
            let resp = self.arm.call(Method::GET, &url, None, &[]).await?;
            if !resp.ok() {
                return Err(resp.json_error());
            }
            let v: Value = resp.json()?;
            if let Some(items) = v["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            match v["nextLink"].as_str() {
                Some(l) if !l.is_empty() => url = self.arm.check_link(l)?,
                _ => return Ok(out),
            }
        }
    }

    fn body(&self, spec: &InstanceSpec) -> Result<Value> {
        let cfg = &self.arm.core.config;
        let image = image_reference(&spec.image)?;
        let mut tags = spec.tags.clone();
        tags.insert(IDEMPOTENCY_TAG.into(), spec.idempotency_key.clone());
        let mut ip_config = json!({ "name": "ipconfig1", "properties": { "primary": true } });
        if let Some(subnet) = &cfg.subnet_id {
            ip_config["properties"]["subnet"] = json!({ "id": subnet });
        }
        if cfg.public_ip {
            ip_config["properties"]["publicIPAddressConfiguration"] = json!({
                "name": format!("{}-pip", spec.name),
                "properties": { "deleteOption": "Delete", "publicIPAllocationMethod": "Static" },
                "sku": { "name": "Standard" }
            });
        }
        let mut os_profile = json!({
            "computerName": spec.name.chars().take(63).collect::<String>(),
            "adminUsername": cfg.admin_username,
            "linuxConfiguration": { "disablePasswordAuthentication": true }
        });
        if let Some(key) = &cfg.ssh_public_key {
            os_profile["linuxConfiguration"]["ssh"] = json!({ "publicKeys": [{
                "path": format!("/home/{}/.ssh/authorized_keys", cfg.admin_username),
                "keyData": key
            }]});
        }
        let mut props = json!({
            "hardwareProfile": { "vmSize": spec.size },
            "storageProfile": {
                "imageReference": image,
                "osDisk": { "createOption": "FromImage", "deleteOption": "Delete" }
            },
            "osProfile": os_profile,
            "networkProfile": {
                "networkApiVersion": "2020-11-01",
                "networkInterfaceConfigurations": [{
                    "name": format!("{}-nic", spec.name),
                    "properties": { "primary": true, "deleteOption": "Delete", "ipConfigurations": [ip_config] }
                }]
            }
        });
        if let Some(ud) = &spec.user_data {
            props["userData"] = json!(base64::engine::general_purpose::STANDARD.encode(ud));
        }
        Ok(json!({ "location": cfg.location, "tags": tags, "properties": props }))
    }
}

fn vm_name(field: &str, name: &str) -> Result<String> {
    if name.is_empty() || name.len() > 64 {
        return Err(Error::invalid_field(
            field,
            format!("{name:?} must be 1 to 64 characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(Error::invalid_field(
            field,
            format!("{name:?} contains {c:?}; only letters, digits, '-', '_' and '.' are allowed"),
        ));
    }
    if name.starts_with(['-', '.']) || name.ends_with(['-', '.']) {
        return Err(Error::invalid_field(
            field,
            format!("{name:?} must not start or end with '-' or '.'"),
        ));
    }
    Ok(name.to_string())
}

/// `publisher:offer:sku:version` (the az CLI's URN) or an image resource id.
fn image_reference(image: &str) -> Result<Value> {
    if image.starts_with("/subscriptions/") {
        return Ok(json!({ "id": image }));
    }
    let parts: Vec<&str> = image.split(':').collect();
    if parts.len() != 4 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::invalid_field(
            "image",
            format!("{image:?} is neither publisher:offer:sku:version nor an image resource id"),
        ));
    }
    Ok(json!({ "publisher": parts[0], "offer": parts[1], "sku": parts[2], "version": parts[3] }))
}

fn image_string(r: &Value) -> String {
    if let Some(id) = r["id"].as_str() {
        return id.to_string();
    }
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    format!(
        "{}:{}:{}:{}",
        s("publisher"),
        s("offer"),
        s("sku"),
        s("version")
    )
}

/// Maps provisioning state and power state onto provisio's states.
pub(crate) fn state_of(vm: &Value) -> InstanceState {
    let p = &vm["properties"];
    let provisioning = p["provisioningState"].as_str().unwrap_or_default();
    let power = p["instanceView"]["statuses"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .filter_map(|x| x["code"].as_str())
                .find_map(|c| c.strip_prefix("PowerState/"))
        })
        .unwrap_or_default();
    match (provisioning, power) {
        ("Deleting", _) => InstanceState::ShuttingDown,
        ("Creating", _) | (_, "starting") => InstanceState::Pending,
        (_, "running") => InstanceState::Running,
        (_, "stopping" | "deallocating") => InstanceState::Stopping,
        (_, "stopped" | "deallocated") => InstanceState::Stopped,
        ("Succeeded", "") => InstanceState::Running,
        _ => InstanceState::Pending,
    }
}

fn to_instance(vm: &Value) -> Instance {
    let tags: Tags = vm["tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let p = &vm["properties"];
    Instance {
        id: vm["id"].as_str().unwrap_or_default().to_string(),
        name: vm["name"].as_str().unwrap_or_default().to_string(),
        image: image_string(&p["storageProfile"]["imageReference"]),
        size: p["hardwareProfile"]["vmSize"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        state: state_of(vm),
        public_ip: None,
        private_ip: None,
        tags,
    }
}

impl std::fmt::Debug for AzureCompute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureCompute")
            .field("subscription", &self.arm.subscription)
            .field("resource_group", &self.arm.resource_group)
            .finish()
    }
}

impl Provider for AzureCompute {
    fn info(&self) -> ProviderInfo {
        self.arm.info.clone()
    }
}

#[async_trait]
impl Compute for AzureCompute {
    fn capabilities(&self) -> ComputeCapabilities {
        ComputeCapabilities {
            native_idempotency: false,
            tags: true,
            user_data: true,
            stop_start: false,
        }
    }

    async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>> {
        let op = "compute.launch_instance";
        let run = async {
            vm_name("name", &spec.name)?;
            if spec.idempotency_key.is_empty()
                || spec.idempotency_key.len() > 64
                || !spec.idempotency_key.is_ascii()
            {
                return Err(Error::invalid_field(
                    "idempotency_key",
                    "must be 1 to 64 ASCII characters",
                ));
            }
            if spec.size.is_empty() {
                return Err(Error::invalid_field("size", "must not be empty"));
            }
            validate::tags("instance tags", &spec.tags)?;
            let body = self.body(spec)?;
            // Find before create: a live VM of this name carrying the ownership tags is ours.
            let path = self.vm_path(&spec.name);
            if let Some(vm) = self.read(&path).await? {
                let existing = to_instance(&vm);
                if !provisio::types::tags_match(&existing.tags, &spec.tags) {
                    return Err(Error::already_exists(format!(
                        "a virtual machine named {} exists without this resource's ownership tags",
                        spec.name
                    )));
                }
                if !existing.state.is_terminal() {
                    return Ok(Ensured::unchanged(self.instance(&vm).await?));
                }
                return Err(Error::transient(format!(
                    "virtual machine {} is being deleted; retry once it is gone",
                    spec.name
                )));
            }
            let url = self.arm.url(&path, COMPUTE_API_VERSION);
            let resp = self
                .arm
                .call(Method::PUT, &url, Some(&body), &[("If-None-Match", "*")])
                .await?;
            if resp.status == 412 {
                return Err(Error::conflict(format!(
                    "virtual machine {} was created concurrently by someone else",
                    spec.name
                )));
            }
            if !resp.ok() {
                return Err(resp.json_error());
            }
            if let Some(op) = lro::started(&resp) {
                lro::wait(&self.arm, &op, crate::error::retry_after(&resp.headers)).await?;
            }
            let vm = self.read(&path).await?.ok_or_else(|| {
                Error::unexpected(format!(
                    "virtual machine {} is missing right after its creation",
                    spec.name
                ))
            })?;
            Ok(Ensured::created(self.instance(&vm).await?))
        };
        run.await.map_err(|e| Self::err(e, op, &spec.name))
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        let op = "compute.get_instance";
        let run = async {
            let path = match self.path_of(id) {
                Ok(p) => p,
                // An id that cannot name a VM names none.
                Err(_) => return Ok(None),
            };
            match self.read(&path).await? {
                Some(vm) => Ok(Some(self.instance(&vm).await?)),
                None => Ok(None),
            }
        };
        run.await.map_err(|e| Self::err(e, op, id))
    }

    async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>> {
        let op = "compute.find_instances";
        let run = async {
            let mut out = Vec::new();
            for vm in self.list_all().await? {
                let i = to_instance(&vm);
                if provisio::types::tags_match(&i.tags, tags) && !i.state.is_terminal() {
                    let full = self.read(&i.id).await?;
                    if let Some(full) = full {
                        let i = self.instance(&full).await?;
                        if !i.state.is_terminal() {
                            out.push(i);
                        }
                    }
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        };
        run.await.map_err(|e| Self::err(e, op, "tags"))
    }

    async fn wait_for_state(
        &self,
        id: &str,
        state: InstanceState,
        timeout: Duration,
    ) -> Result<Instance> {
        let op = "compute.wait_for_state";
        let run = async {
            let path = self.path_of(id)?;
            let deadline = tokio::time::Instant::now() + timeout;
            let interval = self.arm.core.config.poll_interval();
            loop {
                let vm = match self.read(&path).await? {
                    Some(vm) => vm,
                    // A deleted VM is gone from Resource Manager: that is what "terminated"
                    // looks like in Azure.
                    None if state == InstanceState::Terminated => {
                        return Ok(Instance {
                            id: path.clone(),
                            name: path.rsplit('/').next().unwrap_or_default().to_string(),
                            image: String::new(),
                            size: String::new(),
                            state: InstanceState::Terminated,
                            public_ip: None,
                            private_ip: None,
                            tags: Tags::new(),
                        });
                    }
                    None => {
                        return Err(Error::not_found(format!(
                            "virtual machine {id} does not exist (deleted?)"
                        )));
                    }
                };
                let inst = to_instance(&vm);
                if inst.state == state {
                    return self.instance(&vm).await;
                }
                if inst.state.is_terminal() && !state.is_terminal() {
                    return Err(Error::conflict(format!(
                        "virtual machine {id} is {:?}; it will never be {state:?}",
                        inst.state
                    )));
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(Error::timeout(format!(
                        "virtual machine {id} did not become {state:?} within {} s (it is {:?})",
                        timeout.as_secs(),
                        inst.state
                    )));
                }
                tokio::time::sleep(interval.min(deadline - now)).await;
            }
        };
        run.await.map_err(|e| Self::err(e, op, id))
    }

    async fn terminate_instance(&self, id: &str) -> Result<Deleted> {
        let op = "compute.terminate_instance";
        let run = async {
            let Ok(path) = self.path_of(id) else {
                return Ok(Deleted::AlreadyGone);
            };
            let url = self.arm.url(&path, COMPUTE_API_VERSION);
            let resp = self.arm.call(Method::DELETE, &url, None, &[]).await?;
            match resp.status {
                204 | 404 => return Ok(Deleted::AlreadyGone),
                200 | 202 => {}
                _ => return Err(resp.json_error()),
            }
            if let Some(op) = lro::started(&resp) {
                lro::wait(&self.arm, &op, crate::error::retry_after(&resp.headers)).await?;
            }
            Ok(Deleted::Deleted)
        };
        run.await.map_err(|e| Self::err(e, op, id))
    }

    async fn stop_instance(&self, id: &str) -> Result<Instance> {
        Err(Self::err(
            power_unsupported("stop"),
            "compute.stop_instance",
            id,
        ))
    }

    async fn start_instance(&self, id: &str) -> Result<Instance> {
        Err(Self::err(
            power_unsupported("start"),
            "compute.start_instance",
            id,
        ))
    }
}

/// Why stop and start are refused (see the module documentation).
fn power_unsupported(what: &str) -> Error {
    Error::new(
        provisio::ErrorKind::Unsupported,
        format!(
            "the Azure compute provider cannot {what} a virtual machine yet: the VM power \
             actions (deallocate, start) are not in the Azure contract it is tested against \
             (capabilities().stop_start is false)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let vm = |prov: &str, power: Option<&str>| {
            let statuses: Vec<Value> = power
                .map(|p| vec![json!({"code": format!("PowerState/{p}")})])
                .unwrap_or_default();
            json!({"properties": {"provisioningState": prov, "instanceView": {"statuses": statuses}}})
        };
        assert_eq!(state_of(&vm("Creating", None)), InstanceState::Pending);
        assert_eq!(
            state_of(&vm("Succeeded", Some("running"))),
            InstanceState::Running
        );
        assert_eq!(state_of(&vm("Succeeded", None)), InstanceState::Running);
        assert_eq!(
            state_of(&vm("Succeeded", Some("deallocated"))),
            InstanceState::Stopped
        );
        assert_eq!(
            state_of(&vm("Deleting", Some("running"))),
            InstanceState::ShuttingDown
        );
    }

    #[test]
    fn images_and_names() {
        let r = image_reference("Canonical:ubuntu-24_04-lts:server:latest").unwrap();
        assert_eq!(image_string(&r), "Canonical:ubuntu-24_04-lts:server:latest");
        assert!(image_reference("ubuntu").is_err());
        let id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/web";
        assert_eq!(image_string(&image_reference(id).unwrap()), id);
        assert!(vm_name("name", "acme-web").is_ok());
        assert!(vm_name("name", "").is_err());
        assert!(vm_name("name", "bad name").is_err());
    }
}
