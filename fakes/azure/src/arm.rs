//! Resource Manager: DNS zones and record sets, virtual machines with long-running operations,
//! and the NICs and public IPs the VMs create.

use crate::server::{Req, Resp};
use crate::{Shared, State};
use axum::http::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT",
];

pub(crate) struct DnsZone {
    pub id: String,
    pub name: String,
    /// (relative name lower-case, TYPE) -> record set JSON
    pub sets: BTreeMap<(String, String), Value>,
}

pub(crate) struct Vm {
    pub json: Value,
    pub ready_at: Instant,
    pub deleting: Option<String>,
    pub power: &'static str,
}

pub(crate) struct Operation {
    pub done_at: Instant,
    pub name: String,
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

pub(crate) fn ensure_zone(s: &mut State, sub: &str, rg: &str, zone: &str) -> bool {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnszones/{zone}"
    );
    if s.zones.contains_key(&key(&id)) {
        return false;
    }
    let mut z = DnsZone {
        id: id.clone(),
        name: zone.clone(),
        sets: BTreeMap::new(),
    };
    let soa = record_set_json(
        &z,
        "@",
        "SOA",
        &json!({"TTL": 3600, "SOARecord": {"host": "ns1-01.azure-dns.com.", "email": "azuredns-hostmaster.microsoft.com", "serialNumber": 1, "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200, "minimumTTL": 300}}),
        "soa-1",
    );
    let ns = record_set_json(
        &z,
        "@",
        "NS",
        &json!({"TTL": 172800, "NSRecords": [{"nsdname": "ns1-01.azure-dns.com."}, {"nsdname": "ns2-01.azure-dns.net."}]}),
        "ns-1",
    );
    z.sets.insert(("@".into(), "SOA".into()), soa);
    z.sets.insert(("@".into(), "NS".into()), ns);
    s.zones.insert(key(&id), z);
    true
}

fn record_set_json(z: &DnsZone, rel: &str, t: &str, props: &Value, etag: &str) -> Value {
    let mut p = props.clone();
    let fqdn = if rel == "@" {
        format!("{}.", z.name)
    } else {
        format!("{rel}.{}.", z.name)
    };
    p["fqdn"] = json!(fqdn);
    p["provisioningState"] = json!("Succeeded");
    if p.get("metadata").is_none() {
        p["metadata"] = json!({});
    }
    json!({
        "id": format!("{}/{t}/{rel}", z.id),
        "name": rel,
        "type": format!("Microsoft.Network/dnszones/{t}"),
        "etag": etag,
        "properties": p
    })
}

pub(crate) fn handle(shared: &Shared, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    // subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations|operationResults/{id}
    if segs.len() == 8 && segs[2].eq_ignore_ascii_case("providers") && segs[4] == "locations" {
        return operation(shared, req, segs[6], segs[7]);
    }
    if segs.len() < 6
        || !segs[2].eq_ignore_ascii_case("resourceGroups")
        || !segs[4].eq_ignore_ascii_case("providers")
    {
        return Resp::error(404, "InvalidResourceType", "unknown resource path");
    }
    let (sub, rg) = (segs[1], segs[3]);
    let provider = format!("{}/{}", segs[5], segs.get(6).copied().unwrap_or(""));
    let rest = &segs[7.min(segs.len())..];
    match provider.to_ascii_lowercase().as_str() {
        "microsoft.network/dnszones" => dns(shared, req, sub, rg, rest),
        "microsoft.compute/virtualmachines" => vms(shared, req, sub, rg, rest),
        "microsoft.network/networkinterfaces" | "microsoft.network/publicipaddresses" => {
            let s = shared.lock();
            match s.network.get(&key(&req.path)) {
                Some(v) if req.method == Method::GET => Resp::json(200, v.clone()),
                _ => Resp::error(
                    404,
                    "ResourceNotFound",
                    "The network resource was not found.",
                ),
            }
        }
        "microsoft.storage/storageaccounts" => management_policy(shared, req, rest),
        _ => Resp::error(404, "InvalidResourceType", "unknown resource type"),
    }
}

/// `.../storageAccounts/{account}/managementPolicies/default`: one lifecycle policy document
/// per account (any account name exists).
fn management_policy(shared: &Shared, req: &Req, rest: &[&str]) -> Resp {
    if rest.len() != 3
        || !rest[1].eq_ignore_ascii_case("managementPolicies")
        || rest[2] != "default"
    {
        return Resp::error(404, "InvalidResourceType", "unknown storage resource");
    }
    let k = key(&req.path);
    let mut s = shared.lock();
    match req.method {
        Method::GET => match s.network.get(&k) {
            Some(v) => Resp::json(200, v.clone()),
            None => Resp::error(
                404,
                "ManagementPolicyNotFound",
                "No ManagementPolicy found for account",
            ),
        },
        Method::DELETE => match s.network.remove(&k) {
            Some(_) => Resp::empty(200),
            None => Resp::empty(204),
        },
        Method::PUT => {
            let Some(body) = req.json() else {
                return Resp::error(
                    400,
                    "InvalidRequestContent",
                    "The request content was invalid.",
                );
            };
            let rules = body["properties"]["policy"]["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if rules.is_empty() {
                return Resp::error(
                    400,
                    "InvalidManagementPolicyRules",
                    "A policy needs at least one rule.",
                );
            }
            for r in &rules {
                let name = r["name"].as_str().unwrap_or_default();
                if name.is_empty()
                    || name.len() > 256
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Resp::error(
                        400,
                        "InvalidManagementPolicyRules",
                        &format!("Invalid rule name {name:?}: alphanumeric characters only."),
                    );
                }
                if !r["definition"]["actions"].is_object() || r["type"] != "Lifecycle" {
                    return Resp::error(
                        400,
                        "InvalidManagementPolicyRules",
                        "Each rule needs type Lifecycle and definition.actions.",
                    );
                }
            }
            let v = json!({
                "id": req.path,
                "name": "DefaultManagementPolicy",
                "type": "Microsoft.Storage/storageAccounts/managementPolicies",
                "properties": { "policy": { "rules": rules }, "lastModifiedTime": "2026-01-01T00:00:00Z" }
            });
            s.network.insert(k, v.clone());
            Resp::json(200, v)
        }
        _ => Resp::error(405, "MethodNotAllowed", "method not allowed"),
    }
}

/// One page of `items`. Like Resource Manager's, the `$skipToken` is a continuation (the id of
/// the last item served), not an offset: items created or deleted between two pages by other
/// callers neither hide nor repeat the items that stay.
fn page(mut items: Vec<Value>, req: &Req, shared: &Shared, size: usize) -> Resp {
    fn id(v: &Value) -> String {
        v["id"].as_str().unwrap_or_default().to_ascii_lowercase()
    }
    items.sort_by_key(id);
    let start = match req.query.get("$skipToken") {
        Some(after) => {
            let after = after.to_ascii_lowercase();
            items
                .iter()
                .position(|v| id(v) > after)
                .unwrap_or(items.len())
        }
        None => 0,
    };
    let end = (start + size).min(items.len());
    let slice = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({ "value": slice });
    if end < items.len() {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "$skipToken")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        q.push(("$skipToken".into(), id(&items[end - 1])));
        let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        body["nextLink"] = json!(format!("{}{}?{}", shared.base, req.path, qs.join("&")));
    }
    Resp::json(200, body)
}

fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn dns(shared: &Shared, req: &Req, sub: &str, rg: &str, rest: &[&str]) -> Resp {
    let Some(zone_name) = rest.first().map(|z| z.to_ascii_lowercase()) else {
        return Resp::error(405, "MethodNotAllowed", "list zones via the subscription");
    };
    let zone_id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnszones/{zone_name}"
    );
    let mut s = shared.lock();
    if rest.len() == 1 {
        return match req.method {
            Method::GET => match s.zones.get(&key(&zone_id)) {
                Some(z) => Resp::json(200, zone_json(z)),
                None => Resp::error(
                    404,
                    "ResourceNotFound",
                    &format!(
                        "The Resource 'Microsoft.Network/dnszones/{zone_name}' under resource group '{rg}' was not found."
                    ),
                ),
            },
            Method::PUT => {
                let created = ensure_zone(&mut s, sub, rg, &zone_name);
                let z = &s.zones[&key(&zone_id)];
                Resp::json(if created { 201 } else { 200 }, zone_json(z))
            }
            Method::DELETE => match s.zones.remove(&key(&zone_id)) {
                Some(_) => Resp::empty(200),
                None => Resp::empty(204),
            },
            _ => Resp::error(405, "MethodNotAllowed", "method not allowed"),
        };
    }
    let Some(zone) = s.zones.get_mut(&key(&zone_id)) else {
        return Resp::error(
            404,
            "ParentResourceNotFound",
            &format!(
                "Can not perform requested operation on nested resource. Parent resource '{zone_name}' not found."
            ),
        );
    };
    if rest.len() == 2 && req.method == Method::GET {
        let which = rest[1].to_ascii_uppercase();
        let suffix = req
            .query
            .get("$recordsetnamesuffix")
            .map(|s| s.to_ascii_lowercase());
        let items: Vec<Value> = zone
            .sets
            .iter()
            .filter(|((_, t), _)| which == "RECORDSETS" || which == "ALL" || *t == which)
            .filter(|((n, _), _)| match &suffix {
                Some(sfx) => n == sfx || n.ends_with(&format!(".{sfx}")),
                None => true,
            })
            .map(|(_, v)| v.clone())
            .collect();
        let top = req
            .query
            .get("$top")
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(100)
            .max(1);
        drop(s);
        return page(items, req, shared, top);
    }
    if rest.len() != 3 {
        return Resp::error(404, "NotFound", "unknown DNS path");
    }
    let t = rest[1].to_ascii_uppercase();
    let rel = rest[2].to_ascii_lowercase();
    if !RECORD_TYPES.contains(&t.as_str()) {
        return Resp::error(
            400,
            "BadRequest",
            &format!("The record type '{}' is not supported.", rest[1]),
        );
    }
    let k = (rel.clone(), t.clone());
    match req.method {
        Method::GET => match zone.sets.get(&k) {
            Some(v) => Resp::json(200, v.clone()),
            // The unwrapped error shape some DNS 404s use.
            None => Resp::json(
                404,
                json!({"code": "NotFound", "message": format!("The resource record '{rel}' does not exist in resource group '{rg}' of subscription '{sub}'.")}),
            ),
        },
        Method::DELETE => {
            if t == "SOA" || (t == "NS" && rel == "@") {
                return Resp::error(
                    400,
                    "BadRequest",
                    "The SOA record set and the apex NS record set cannot be deleted.",
                );
            }
            let Some(existing) = zone.sets.get(&k) else {
                return Resp::empty(204);
            };
            if let Some(m) = req.header("if-match")
                && m != "*"
                && existing["etag"].as_str() != Some(m)
            {
                return Resp::error(
                    412,
                    "PreconditionFailed",
                    "The condition in the If-Match header was not satisfied.",
                );
            }
            zone.sets.remove(&k);
            Resp::empty(200)
        }
        Method::PUT | Method::PATCH => {
            let existing = zone.sets.get(&k).cloned();
            if req.header("if-none-match") == Some("*") && existing.is_some() {
                return Resp::error(
                    412,
                    "PreconditionFailed",
                    "The condition '*' in the If-None-Match header was satisfied.",
                );
            }
            if let Some(m) = req.header("if-match") {
                let ok = match &existing {
                    Some(e) => m == "*" || e["etag"].as_str() == Some(m),
                    None => false,
                };
                if !ok {
                    return Resp::error(
                        412,
                        "PreconditionFailed",
                        &format!("The condition '{m}' in the If-Match header was not satisfied."),
                    );
                }
            }
            if t == "SOA" && existing.is_none() {
                return Resp::error(400, "BadRequest", "SOA record sets cannot be created.");
            }
            let Some(body) = req.json() else {
                return Resp::error(400, "BadRequest", "The request body is not valid JSON.");
            };
            let mut props = body["properties"].clone();
            if req.method == Method::PATCH {
                let Some(e) = &existing else {
                    return Resp::error(404, "NotFound", "The record set does not exist.");
                };
                let mut merged = e["properties"].clone();
                if let (Some(m), Some(p)) = (merged.as_object_mut(), props.as_object()) {
                    for (k, v) in p {
                        m.insert(k.clone(), v.clone());
                    }
                }
                props = merged;
            }
            if let Err(msg) = check_record_props(&t, &props) {
                return Resp::error(400, "BadRequest", &msg);
            }
            // CNAME exclusivity (RFC 1034 3.6.2).
            let others: Vec<&String> = zone
                .sets
                .keys()
                .filter(|(n, ty)| *n == rel && *ty != t)
                .map(|(_, ty)| ty)
                .collect();
            if (t == "CNAME" && !others.is_empty())
                || (t != "CNAME" && others.iter().any(|o| *o == "CNAME"))
            {
                return Resp::error(
                    409,
                    "Conflict",
                    &format!(
                        "The record set {rel} conflicts with a CNAME record set of the same name."
                    ),
                );
            }
            drop(s);
            let etag = shared.lock().hex_id();
            let mut s = shared.lock();
            let zone = s.zones.get_mut(&key(&zone_id)).expect("zone checked above");
            let v = record_set_json(zone, &rel, &t, &props, &etag);
            zone.sets.insert(k, v.clone());
            Resp::json(if existing.is_some() { 200 } else { 201 }, v)
        }
        _ => Resp::error(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn check_record_props(t: &str, p: &Value) -> Result<(), String> {
    if !p["TTL"].is_u64() {
        return Err("properties.TTL is required and must be a non-negative integer".into());
    }
    let field = match t {
        "A" => "ARecords",
        "AAAA" => "AAAARecords",
        "CNAME" => "CNAMERecord",
        "MX" => "MXRecords",
        "TXT" => "TXTRecords",
        "NS" => "NSRecords",
        "PTR" => "PTRRecords",
        "SRV" => "SRVRecords",
        "CAA" => "caaRecords",
        _ => "SOARecord",
    };
    for other in [
        "ARecords",
        "AAAARecords",
        "CNAMERecord",
        "MXRecords",
        "TXTRecords",
    ] {
        if other != field && p.get(other).is_some() {
            return Err(format!("a {t} record set cannot hold {other}"));
        }
    }
    match t {
        "A" => each(p, field, |r| {
            r["ipv4Address"]
                .as_str()
                .is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        }),
        "AAAA" => each(p, field, |r| {
            r["ipv6Address"]
                .as_str()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }),
        "MX" => each(p, field, |r| {
            r["exchange"].is_string() && r["preference"].is_u64()
        }),
        "TXT" => each(p, field, |r| {
            r["value"]
                .as_array()
                .is_some_and(|v| v.iter().all(|s| s.as_str().is_some_and(|s| s.len() <= 255)))
        }),
        "CNAME" if !p[field]["cname"].is_string() => Err("CNAMERecord.cname is required".into()),
        _ => Ok(()),
    }
}

fn each(p: &Value, field: &str, ok: impl Fn(&Value) -> bool) -> Result<(), String> {
    match p[field].as_array() {
        Some(a) if !a.is_empty() && a.iter().all(ok) => Ok(()),
        _ => Err(format!("properties.{field} is missing or invalid")),
    }
}

fn zone_json(z: &DnsZone) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "type": "Microsoft.Network/dnszones",
        "location": "global",
        "etag": "zone-etag",
        "tags": {},
        "properties": {
            "maxNumberOfRecordSets": 10000,
            "numberOfRecordSets": z.sets.len(),
            "nameServers": ["ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."],
            "zoneType": "Public"
        }
    })
}

/// Brings a VM up to date with the clock: creation finished, deletion finished.
fn settle_vms(s: &mut State) {
    let now = Instant::now();
    let mut gone = Vec::new();
    for (k, vm) in s.vms.iter_mut() {
        if vm.deleting.is_some() {
            if now >= vm.ready_at {
                gone.push(k.clone());
            }
        } else if now >= vm.ready_at && vm.json["properties"]["provisioningState"] == "Creating" {
            vm.json["properties"]["provisioningState"] = json!("Succeeded");
            vm.power = "running";
        }
    }
    for k in gone {
        if let Some(vm) = s.vms.remove(&k) {
            let name = vm.json["name"].as_str().unwrap_or_default().to_string();
            let id = vm.json["id"].as_str().unwrap_or_default().to_string();
            let prefix = id
                .split("/providers/")
                .next()
                .unwrap_or_default()
                .to_string();
            s.network.remove(&key(&format!(
                "{prefix}/providers/Microsoft.Network/networkInterfaces/{name}-nic"
            )));
            s.network.remove(&key(&format!(
                "{prefix}/providers/Microsoft.Network/publicIPAddresses/{name}-pip"
            )));
        }
    }
}

fn vm_view(vm: &Vm, expand: bool) -> Value {
    let mut v = vm.json.clone();
    if expand {
        let prov = v["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded")
            .to_ascii_lowercase();
        v["properties"]["instanceView"] = json!({
            "statuses": [
                {"code": format!("ProvisioningState/{prov}"), "level": "Info"},
                {"code": format!("PowerState/{}", vm.power), "level": "Info"}
            ]
        });
    }
    v
}

fn vms(shared: &Shared, req: &Req, sub: &str, rg: &str, rest: &[&str]) -> Resp {
    let mut s = shared.lock();
    settle_vms(&mut s);
    if rest.is_empty() {
        if req.method != Method::GET {
            return Resp::error(405, "MethodNotAllowed", "method not allowed");
        }
        let prefix = key(&format!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/"
        ));
        let items: Vec<Value> = s
            .vms
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, vm)| vm_view(vm, false))
            .collect();
        drop(s);
        return page(items, req, shared, shared.options.vm_page_size);
    }
    let name = rest[0];
    let id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
    );
    let k = key(&id);
    let expand = req
        .query
        .get("$expand")
        .is_some_and(|e| e == "instanceView");
    match req.method {
        Method::GET => match s.vms.get(&k) {
            Some(vm) => Resp::json(200, vm_view(vm, expand)),
            None => Resp::error(
                404,
                "ResourceNotFound",
                &format!(
                    "The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{rg}' was not found."
                ),
            ),
        },
        Method::PUT => {
            if let Some(vm) = s.vms.get(&k) {
                if req.header("if-none-match") == Some("*") {
                    return Resp::error(
                        412,
                        "PreconditionFailed",
                        "The condition '*' in the If-None-Match header was satisfied.",
                    );
                }
                if vm.deleting.is_some() || vm.json["properties"]["provisioningState"] == "Creating"
                {
                    return Resp::error(
                        409,
                        "OperationNotAllowed",
                        "Operation 'PUT' is not allowed on VM while another operation is in progress.",
                    );
                }
                return Resp::json(200, vm_view(vm, false));
            }
            let Some(body) = req.json() else {
                return Resp::error(
                    400,
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized.",
                );
            };
            let p = &body["properties"];
            let missing = [
                ("location", body["location"].is_string()),
                (
                    "properties.hardwareProfile.vmSize",
                    p["hardwareProfile"]["vmSize"].is_string(),
                ),
                (
                    "properties.storageProfile.imageReference",
                    p["storageProfile"]["imageReference"].is_object(),
                ),
                (
                    "properties.osProfile.adminUsername",
                    p["osProfile"]["adminUsername"].is_string(),
                ),
                ("properties.networkProfile", p["networkProfile"].is_object()),
            ]
            .into_iter()
            .find(|(_, ok)| !ok);
            if let Some((field, _)) = missing {
                return Resp::error(
                    400,
                    "InvalidParameter",
                    &format!("Required parameter '{field}' is missing (null)."),
                );
            }
            if let Some(ud) = p["userData"].as_str()
                && !ud
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                return Resp::error(400, "InvalidParameter", "userData must be base64.");
            }
            let loc = body["location"]
                .as_str()
                .unwrap_or("westeurope")
                .to_string();
            let n = s.next_id();
            let prefix =
                format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network");
            let nic_id = format!("{prefix}/networkInterfaces/{name}-nic");
            let pip_id = format!("{prefix}/publicIPAddresses/{name}-pip");
            let wants_pip = p["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
                ["ipConfigurations"][0]["properties"]["publicIPAddressConfiguration"]
                .is_object();
            let mut ipc = json!({"name": "ipconfig1", "properties": {"privateIPAddress": format!("10.0.{}.{}", (n / 250) % 250, n % 250 + 4), "primary": true}});
            if wants_pip {
                ipc["properties"]["publicIPAddress"] = json!({"id": pip_id});
                s.network.insert(key(&pip_id), json!({"id": pip_id, "name": format!("{name}-pip"), "properties": {"ipAddress": format!("203.0.113.{}", n % 250 + 1), "publicIPAllocationMethod": "Static"}}));
            }
            s.network.insert(key(&nic_id), json!({"id": nic_id, "name": format!("{name}-nic"), "properties": {"ipConfigurations": [ipc]}}));
            let mut props = p.clone();
            props["provisioningState"] = json!("Creating");
            props["vmId"] = json!(format!("{:08x}-0000-4000-8000-{:012x}", n, n));
            props["networkProfile"]["networkInterfaces"] =
                json!([{"id": nic_id, "properties": {"primary": true, "deleteOption": "Delete"}}]);
            let vm_json = json!({
                "id": id,
                "name": name,
                "type": "Microsoft.Compute/virtualMachines",
                "location": loc,
                "tags": body["tags"].clone(),
                "properties": props
            });
            let done = Instant::now() + shared.options.vm_operation;
            let op = s.hex_id();
            s.ops.insert(
                op.clone(),
                Operation {
                    done_at: done,
                    name: op.clone(),
                },
            );
            let vm = Vm {
                json: vm_json,
                ready_at: done,
                deleting: None,
                power: "starting",
            };
            let view = vm_view(&vm, false);
            s.vms.insert(k, vm);
            Resp::json(201, view)
                .with("Azure-AsyncOperation", format!("{}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{op}?api-version=2024-11-01", shared.base))
                .with("Retry-After", "0")
                .with("x-ms-long-running-operation", "true")
        }
        Method::DELETE => {
            let Some(vm) = s.vms.get(&k) else {
                return Resp::empty(204);
            };
            let loc = vm.json["location"]
                .as_str()
                .unwrap_or("westeurope")
                .to_string();
            let op = match &vm.deleting {
                Some(op) => op.clone(),
                None => {
                    let op = s.hex_id();
                    let done = Instant::now() + shared.options.vm_operation;
                    s.ops.insert(
                        op.clone(),
                        Operation {
                            done_at: done,
                            name: op.clone(),
                        },
                    );
                    let vm = s.vms.get_mut(&k).expect("checked");
                    vm.deleting = Some(op.clone());
                    vm.ready_at = done;
                    vm.json["properties"]["provisioningState"] = json!("Deleting");
                    vm.power = "stopping";
                    op
                }
            };
            // Delete is polled through Location only (no Azure-AsyncOperation), the other
            // documented LRO style.
            Resp::empty(202)
                .with("Location", format!("{}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operationResults/{op}?api-version=2024-11-01", shared.base))
                .with("Retry-After", "0")
        }
        _ => Resp::error(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn operation(shared: &Shared, req: &Req, kind: &str, id: &str) -> Resp {
    let mut s = shared.lock();
    settle_vms(&mut s);
    let Some(op) = s.ops.get(id) else {
        return Resp::error(404, "NotFound", "The operation was not found.");
    };
    if req.method != Method::GET {
        return Resp::error(405, "MethodNotAllowed", "method not allowed");
    }
    let done = Instant::now() >= op.done_at;
    match kind {
        "operations" => Resp::json(
            200,
            json!({"name": op.name, "status": if done { "Succeeded" } else { "InProgress" }, "startTime": "2026-01-01T00:00:00Z"}),
        )
        .with("Retry-After", "0"),
        "operationResults" if done => Resp::empty(204),
        "operationResults" => Resp::empty(202).with("Retry-After", "0"),
        _ => Resp::error(404, "NotFound", "unknown operation kind"),
    }
}
