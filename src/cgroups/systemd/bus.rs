//! Talking to systemd's manager (org.freedesktop.systemd1) over D-Bus with
//! zbus's blocking API: start a transient unit and wait for its job, stop it,
//! set properties, read its state.
//!
//! zbus runs helper threads once connected, so a connection is only ever made
//! after the container's init has been cloned (the CLI must be single-threaded
//! at every fork; see design.md).

use super::properties::{PropValue, Property};
use std::time::{Duration, Instant};
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const JOB: &str = "org.freedesktop.systemd1.Job";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// How long a systemd job (a start or stop) may take.
const JOB_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("systemd cgroup driver: cannot connect to {bus}: {source} (is systemd running, with D-Bus?)")]
    Connect {
        bus: String,
        source: Box<zbus::Error>,
    },
    #[error("systemd cgroup driver: {method} {unit}: {source}")]
    Call {
        method: &'static str,
        unit: String,
        source: Box<zbus::Error>,
    },
    #[error("systemd cgroup driver: {unit}: unit already exists (another container, or a leftover: stop it with `systemctl stop {unit}`)")]
    Exists { unit: String },
    #[error("systemd cgroup driver: {unit}: {what} did not finish within {secs}s")]
    Timeout {
        unit: String,
        what: &'static str,
        secs: u64,
    },
    #[error("systemd cgroup driver: {unit}: {what}: the unit is {state}")]
    State {
        unit: String,
        what: &'static str,
        state: String,
    },
}

impl BusError {
    /// A D-Bus error reply named `name` (org.freedesktop.systemd1.NoSuchUnit, ...).
    fn is_method_error(&self, name: &str) -> bool {
        matches!(self, BusError::Call { source, .. }
            if matches!(source.as_ref(), zbus::Error::MethodError(n, _, _) if n.as_str() == name))
    }
}

/// The bus a connection goes to: the system bus, or the user's (rootless).
fn bus_name(user: bool) -> String {
    let (var, default) = if user {
        ("DBUS_SESSION_BUS_ADDRESS", "the user's session bus")
    } else {
        (
            "DBUS_SYSTEM_BUS_ADDRESS",
            "the system bus (unix:path=/run/dbus/system_bus_socket)",
        )
    };
    match std::env::var(var) {
        Ok(a) if !a.is_empty() => format!("{var}={a}"),
        _ => default.to_string(),
    }
}

/// A connection to systemd's manager.
pub struct Systemd {
    conn: Connection,
}

fn to_value(v: &PropValue) -> Value<'static> {
    match v {
        PropValue::Bool(b) => Value::from(*b),
        PropValue::Byte(b) => Value::from(*b),
        PropValue::I16(n) => Value::from(*n),
        PropValue::U16(n) => Value::from(*n),
        PropValue::I32(n) => Value::from(*n),
        PropValue::U32(n) => Value::from(*n),
        PropValue::I64(n) => Value::from(*n),
        PropValue::U64(n) => Value::from(*n),
        PropValue::F64(n) => Value::from(*n),
        PropValue::Str(s) => Value::from(s.clone()),
        PropValue::StrList(l) => Value::from(l.clone()),
        PropValue::U32List(l) => Value::from(l.clone()),
        PropValue::Bytes(b) => Value::from(b.clone()),
        PropValue::DeviceAllow(l) => Value::from(l.clone()),
    }
}

fn props(p: &[Property]) -> Vec<(&str, Value<'static>)> {
    p.iter().map(|(n, v)| (n.as_str(), to_value(v))).collect()
}

impl Systemd {
    /// Connect to the system bus (or the user's, `user`).
    pub fn connect(user: bool) -> Result<Systemd, BusError> {
        let built = if user {
            zbus::blocking::connection::Builder::session()
        } else {
            zbus::blocking::connection::Builder::system()
        };
        let conn = built
            .and_then(|b| b.method_timeout(JOB_PATIENCE).build())
            .map_err(|source| BusError::Connect {
                bus: bus_name(user),
                source: Box::new(source),
            })?;
        Ok(Systemd { conn })
    }

    fn call<B>(&self, method: &'static str, unit: &str, body: &B) -> Result<zbus::Message, BusError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
            .map_err(|source| BusError::Call {
                method,
                unit: unit.to_string(),
                source: Box::new(source),
            })
    }

    /// StartTransientUnit(unit, "replace", properties) and wait for its job. A unit
    /// of that name that is loaded already is an error, and left alone.
    pub fn start_transient_unit(
        &self,
        unit: &str,
        properties: &[Property],
    ) -> Result<(), BusError> {
        let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
        let reply = self.call(
            "StartTransientUnit",
            unit,
            &(unit, "replace", props(properties), aux),
        );
        let reply = match reply {
            Err(e) if e.is_method_error("org.freedesktop.systemd1.UnitExists") => {
                return Err(BusError::Exists {
                    unit: unit.to_string(),
                })
            }
            other => other?,
        };
        let job: OwnedObjectPath = reply
            .body()
            .deserialize()
            .map_err(|source| BusError::Call {
                method: "StartTransientUnit",
                unit: unit.to_string(),
                source: Box::new(source),
            })?;
        self.wait_job(&job, unit, "starting")?;
        match self.active_state(unit)?.as_str() {
            "active" | "activating" => Ok(()),
            state => Err(BusError::State {
                unit: unit.to_string(),
                what: "starting",
                state: state.to_string(),
            }),
        }
    }

    /// StopUnit(unit, "replace") and wait for it; a unit that is not loaded (gone
    /// already) is fine. A failed unit is reset so its name can be used again.
    pub fn stop_unit(&self, unit: &str) -> Result<(), BusError> {
        match self.call("StopUnit", unit, &(unit, "replace")) {
            Ok(reply) => {
                if let Ok(job) = reply.body().deserialize::<OwnedObjectPath>() {
                    self.wait_job(&job, unit, "stopping")?;
                }
            }
            Err(e) if e.is_method_error("org.freedesktop.systemd1.NoSuchUnit") => return Ok(()),
            Err(e) => return Err(e),
        }
        let _ = self.call("ResetFailedUnit", unit, &(unit,));
        Ok(())
    }

    /// SetUnitProperties(unit, runtime = true, properties).
    pub fn set_unit_properties(&self, unit: &str, properties: &[Property]) -> Result<(), BusError> {
        if properties.is_empty() {
            return Ok(());
        }
        self.call("SetUnitProperties", unit, &(unit, true, props(properties)))
            .map(drop)
    }

    /// The unit's ActiveState (`inactive` when it is not loaded).
    pub fn active_state(&self, unit: &str) -> Result<String, BusError> {
        let path: OwnedObjectPath = match self.call("GetUnit", unit, &(unit,)) {
            Ok(reply) => reply
                .body()
                .deserialize()
                .map_err(|source| BusError::Call {
                    method: "GetUnit",
                    unit: unit.to_string(),
                    source: Box::new(source),
                })?,
            Err(e) if e.is_method_error("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok("inactive".into())
            }
            Err(e) => return Err(e),
        };
        let reply = self
            .conn
            .call_method(
                Some(DEST),
                &path,
                Some(PROPERTIES),
                "Get",
                &(UNIT, "ActiveState"),
            )
            .map_err(|source| BusError::Call {
                method: "Get ActiveState",
                unit: unit.to_string(),
                source: Box::new(source),
            })?;
        let v: OwnedValue = reply
            .body()
            .deserialize()
            .map_err(|source| BusError::Call {
                method: "Get ActiveState",
                unit: unit.to_string(),
                source: Box::new(source),
            })?;
        Ok(String::try_from(v).unwrap_or_default())
    }

    /// Wait until the job object is gone (the job finished), polling its State.
    fn wait_job(
        &self,
        job: &OwnedObjectPath,
        unit: &str,
        what: &'static str,
    ) -> Result<(), BusError> {
        let deadline = Instant::now() + JOB_PATIENCE;
        let mut nap = Duration::from_micros(200);
        loop {
            let r =
                self.conn
                    .call_method(Some(DEST), job, Some(PROPERTIES), "Get", &(JOB, "State"));
            if r.is_err() {
                // UnknownObject: the job is done (its result is the unit's state).
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BusError::Timeout {
                    unit: unit.to_string(),
                    what,
                    secs: JOB_PATIENCE.as_secs(),
                });
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }
}
