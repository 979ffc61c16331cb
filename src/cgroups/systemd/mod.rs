//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a
//! transient scope that systemd makes and owns, started over D-Bus with the
//! init's pid (`PIDs`), `Delegate=yes`, `Slice`, `DefaultDependencies=no` and the
//! resources as unit properties; the resources are written to the cgroup files as
//! well (so a limit systemd has no property for still applies), and on v1 the
//! hierarchies systemd does not manage get a directory of the same path from
//! husk. Everything after the placement (pause, kill, stats, exec) uses those
//! cgroup files as with cgroupfs; `update` sets the properties and the files,
//! `delete` stops the unit.
//!
//! - `path`: `slice:prefix:name` and slice expansion.
//! - `properties`: resources and annotations as unit properties.
//! - `gvariant`: annotation values in GVariant text form.
//! - `bus`: the D-Bus calls.

pub mod bus;
pub mod gvariant;
pub mod path;
pub mod properties;

use super::{Cgroup, CgroupError, Version};
use oci_spec::runtime::LinuxResources;
use properties::{PropValue, Property};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(transparent)]
    Path(#[from] path::PathError),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error("{field}: {reason}")]
    Property { field: String, reason: String },
}

impl From<(String, String)> for SystemdError {
    fn from((field, reason): (String, String)) -> Self {
        SystemdError::Property { field, reason }
    }
}

/// A container's unit, as kept in its state (for `update` and `delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub slice: String,
    /// Started on the user's bus (rootless) rather than the system bus.
    #[serde(default)]
    pub user: bool,
}

/// Putting a new container's init into its systemd unit (after the clone: the
/// D-Bus connection starts threads).
pub struct Placement {
    unit: Unit,
    path: path::UnitPath,
    version: Version,
    resources: LinuxResources,
    properties: Vec<Property>,
    /// The unit was started (a failed create must stop it).
    started: RefCell<bool>,
    /// The cgroup once placed.
    cgroup: RefCell<Option<Cgroup>>,
}

/// The properties of a new unit for container `id` (scope or slice), the
/// resources' and the annotations' (which come last and win).
fn unit_properties(
    p: &path::UnitPath,
    id: &str,
    version: Version,
    resources: &LinuxResources,
    annotations: &HashMap<String, String>,
) -> Result<Vec<Property>, SystemdError> {
    let mut out: Vec<Property> = vec![(
        "Description".into(),
        PropValue::Str(format!("husk container {id}")),
    )];
    if p.is_slice() {
        // A slice's parent is given by Wants=.
        out.push(("Wants".into(), PropValue::StrList(vec![p.slice.clone()])));
    } else {
        out.push(("Slice".into(), PropValue::Str(p.slice.clone())));
        out.push(("Delegate".into(), PropValue::Bool(true)));
    }
    out.push(("DefaultDependencies".into(), PropValue::Bool(false)));
    out.extend(properties::accounting(version));
    out.extend(properties::resources(resources, version)?);
    let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    out.extend(properties::device_properties(
        resources,
        &proc_devices,
        |p| std::path::Path::new(p).exists(),
    )?);
    out.extend(properties::from_annotations(annotations)?);
    Ok(out)
}

impl Placement {
    /// Plan the unit for container `id`: checks the path and every property
    /// before anything is made.
    pub fn new(
        cgroups_path: Option<&str>,
        id: &str,
        resources: &LinuxResources,
        annotations: &HashMap<String, String>,
        user: bool,
    ) -> Result<Placement, CgroupError> {
        let p = path::parse(cgroups_path, id, user).map_err(SystemdError::from)?;
        let version = super::detect_version()?;
        let properties = unit_properties(&p, id, version, resources, annotations)?;
        Ok(Placement {
            unit: Unit {
                name: p.unit.clone(),
                slice: p.slice.clone(),
                user,
            },
            path: p,
            version,
            resources: resources.clone(),
            properties,
            started: RefCell::new(false),
            cgroup: RefCell::new(None),
        })
    }

    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    /// Start the unit with `pid` in it (a scope; a slice unit is started empty and
    /// the pid written to its cgroup), make the directories of the hierarchies
    /// systemd does not manage (v1), write the resources into the files and put
    /// `pid` in every hierarchy.
    pub fn place(&self, pid: i32) -> Result<(), CgroupError> {
        let sd = bus::Systemd::connect(self.unit.user).map_err(SystemdError::from)?;
        crate::logging::debug(|| format!("systemd: connected to the bus for {}", self.unit.name));
        let mut props = self.properties.clone();
        if !self.path.is_slice() {
            props.push(("PIDs".into(), PropValue::U32List(vec![pid as u32])));
        }
        sd.start_transient_unit(&self.unit.name, &props)
            .map_err(SystemdError::from)?;
        *self.started.borrow_mut() = true;
        crate::logging::debug(|| format!("systemd: {} started", self.unit.name));
        let mut cg = Cgroup::new(
            Some(std::path::Path::new(&self.path.cgroup)),
            &self.unit.name,
        )?;
        if cg.version != self.version {
            return Err(CgroupError::Layout(format!(
                "the cgroup layout changed while {} was started",
                self.unit.name
            )));
        }
        let made = cg.create();
        *self.cgroup.borrow_mut() = Some(cg.clone());
        made?;
        cg.set(&self.resources)?;
        cg.add_pid(pid)?;
        *self.cgroup.borrow_mut() = Some(cg);
        Ok(())
    }

    /// The container's cgroup, once placed.
    pub fn cgroup(&self) -> Option<Cgroup> {
        self.cgroup.borrow().clone()
    }

    /// Undo a placement after a failed create: stop the unit (if started) and
    /// remove the directories husk made.
    pub fn abort(&self) {
        if *self.started.borrow() {
            if let Err(e) = stop(&self.unit) {
                crate::logging::warn(&format!("{e}"));
            }
        }
        if let Some(cg) = self.cgroup.borrow().as_ref() {
            let _ = cg.destroy();
        }
    }
}

/// Stop a container's unit (`delete`); systemd removes the cgroups it made.
pub fn stop(unit: &Unit) -> Result<(), CgroupError> {
    let sd = bus::Systemd::connect(unit.user).map_err(SystemdError::from)?;
    sd.stop_unit(&unit.name).map_err(SystemdError::from)?;
    Ok(())
}

/// `update`: the changed resources as unit properties (the files are written by
/// the caller).
pub fn update(
    unit: &Unit,
    resources: &LinuxResources,
    version: Version,
) -> Result<(), CgroupError> {
    let mut props = properties::resources(resources, version).map_err(SystemdError::from)?;
    if resources.devices().is_some() {
        let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
        props.extend(
            properties::device_properties(resources, &proc_devices, |p| {
                std::path::Path::new(p).exists()
            })
            .map_err(SystemdError::from)?,
        );
    }
    let sd = bus::Systemd::connect(unit.user).map_err(SystemdError::from)?;
    sd.set_unit_properties(&unit.name, &props)
        .map_err(SystemdError::from)?;
    Ok(())
}
