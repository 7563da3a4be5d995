//! Where the controls live in each policy shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Location, PolicyError, PolicyErrorKind};
use crate::model::{Control, Leniency, Metric, Policy, PolicyShape, SourceFile};
use crate::props::control_from;
use crate::yaml::{self, location, At};

/// Reads and parses a policy file (YAML or JSON, any supported shape).
pub fn load_policy(path: &Path) -> Result<Policy, PolicyError> {
    load_policy_with(path, Leniency::Strict)
}

/// [`load_policy`], with unknown metric keys treated as `leniency` says.
pub fn load_policy_with(path: &Path, leniency: Leniency) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        path: path.to_path_buf(),
        location: None,
        kind: Box::new(e.into()),
    })?;
    parse_policy_with(path, &text, leniency)
}

/// Parses policy text; `path` names it in errors and resolves profile imports.
pub fn parse_policy(path: &Path, text: &str) -> Result<Policy, PolicyError> {
    parse_policy_with(path, text, Leniency::Strict)
}

/// [`parse_policy`], with unknown metric keys treated as `leniency` says.
pub fn parse_policy_with(
    path: &Path,
    text: &str,
    leniency: Leniency,
) -> Result<Policy, PolicyError> {
    let root = yaml::parse(path, text)?;
    let at = At { path, node: &root };
    let (shape, doc) = detect(at)?;
    let mut found = Found {
        inventory: inventory(doc)?,
        leniency,
        ..Found::default()
    };
    found.direct_props = shape == PolicyShape::ControlList;
    match shape {
        PolicyShape::ComponentDefinition => component_definition(doc, &mut found)?,
        PolicyShape::Catalog => catalog(doc, &mut found)?,
        PolicyShape::Profile => profile(doc, &mut found)?,
        PolicyShape::SystemSecurityPlan => ssp(doc, &mut found)?,
        PolicyShape::AssessmentPlan => assessment_plan(doc, &mut found)?,
        PolicyShape::ControlList => control_list(doc, &mut found)?,
    }
    let register = risk_register(doc)?;
    if found.controls.is_empty() {
        let kind = if register.is_empty() {
            PolicyErrorKind::Empty
        } else {
            PolicyErrorKind::OnlyRisks {
                risks: register.len(),
            }
        };
        return Err(PolicyError {
            path: path.to_path_buf(),
            location: None,
            kind: Box::new(kind),
        });
    }
    let mut warnings = Vec::new();
    for control in &mut found.controls {
        if let Some(w) = link_risk(control, &register) {
            warnings.push(format!("{}: {w}", path.display()));
        }
        if let Metric::Known(key) = control.metric {
            let (at_least, at_most) = control.operator.bounds();
            if let Some(w) = key.threshold_misreading(at_least, at_most, control.threshold) {
                warnings.push(format!(
                    "{}:{}:{}: control {}: {w}",
                    path.display(),
                    control.location.line,
                    control.location.column,
                    control.id
                ));
            }
        }
    }
    let metadata = doc.get("metadata");
    let meta = |key| {
        metadata
            .and_then(|m| m.scalar_of(key).ok().flatten())
            .map(str::to_string)
    };
    let mut sources = vec![SourceFile::new(path, text)];
    sources.extend(found.imports);
    Ok(Policy {
        sources,
        shape,
        uuid: doc.scalar_of("uuid").ok().flatten().map(str::to_string),
        title: meta("title"),
        version: meta("version"),
        controls: found.controls,
        manual_controls: found.manual,
        warnings: warnings
            .into_iter()
            .chain(found.warnings)
            .chain(yaml::duplicate_keys(text).into_iter().map(|d| {
                format!(
                    "{}:{}:{}: key {:?} is written twice in one mapping (first at line {}); the last value is used, as PyYAML does",
                    path.display(),
                    d.last.line,
                    d.last.column,
                    d.key,
                    d.first.line
                )
            }))
            .collect(),
    })
}

/// One risk of a risk register (`risks` of a system-security-plan, as the
/// SDK's samples write them).
struct Risk {
    uuid: String,
    legacy_id: Option<String>,
    fields: Vec<(&'static str, String)>,
}

/// The document's risk register, if it has one.
fn risk_register(doc: At<'_>) -> Result<Vec<Risk>, PolicyError> {
    let Some(risks) = doc.get("risks") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for risk in risks.items("risks")? {
        let uuid = risk.require("uuid", "a risk")?.scalar("uuid")?.to_string();
        let mut fields = vec![("risk_uuid", uuid.clone())];
        for (key, field) in [
            ("title", "risk_title"),
            ("description", "risk_description"),
            ("status", "risk_status"),
        ] {
            if let Some(v) = risk.scalar_of(key)? {
                fields.push((field, v.trim().to_string()));
            }
        }
        let mut legacy_id = None;
        if let Some(props) = risk.get("props") {
            for prop in props.items("props")? {
                if prop.scalar_of("name")? == Some("legacy-id") {
                    legacy_id = prop.scalar_of("value")?.map(str::to_string);
                }
            }
        }
        out.push(Risk {
            uuid,
            legacy_id,
            fields,
        });
    }
    Ok(out)
}

/// Adds the register's fields to a control whose `risk_id` names one of its
/// risks (by uuid or `legacy-id`); the control's own props win. A name the
/// register does not hold is a warning.
fn link_risk(control: &mut Control, register: &[Risk]) -> Option<String> {
    if register.is_empty() {
        return None;
    }
    let id = control.risk.get("risk_id")?.clone();
    let Some(risk) = register
        .iter()
        .find(|r| r.uuid == id || r.legacy_id.as_deref() == Some(id.as_str()))
    else {
        return Some(format!(
            "control {:?} names risk {id:?}, which is not in the policy's risk register",
            control.id
        ));
    };
    for (field, value) in &risk.fields {
        control
            .risk
            .entry((*field).to_string())
            .or_insert_with(|| value.clone());
    }
    None
}

impl SourceFile {
    /// A file's text with its SHA-256, as the evidence keeps policy copies.
    pub fn new(path: &Path, text: &str) -> SourceFile {
        SourceFile {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text: text.to_string(),
        }
    }
}

/// Controls gathered while walking a document.
#[derive(Default)]
struct Found {
    /// Plain lists carry props as keys of the control itself.
    direct_props: bool,
    leniency: Leniency,
    controls: Vec<Control>,
    manual: Vec<String>,
    seen: HashMap<String, Location>,
    imports: Vec<SourceFile>,
    inventory: Inventory,
    /// Read leniently (a repeated control id), with the line.
    warnings: Vec<String>,
}

/// Props given from outside a control's own node (an inventory item it
/// links to, a profile's `alters`): name, value, and where the value is.
type LinkedProps = Vec<(String, String, Location)>;

/// Props of the document's inventory items, by uuid.
type Inventory = HashMap<String, LinkedProps>;

/// OSCAL inventory items (`local-definitions.inventory-items`, or a root
/// `inventory-items` as the SDK also reads): a requirement without metric
/// props of its own takes them from the item it links to
/// (`links: [{href: "#<uuid>"}]`).
fn inventory(doc: At<'_>) -> Result<Inventory, PolicyError> {
    let items = doc
        .get("local-definitions")
        .and_then(|l| l.get("inventory-items"))
        .or_else(|| doc.get("inventory-items"));
    let mut out = Inventory::new();
    let Some(items) = items else {
        return Ok(out);
    };
    for item in items.items("inventory-items")? {
        let uuid = item.require("uuid", "an inventory item")?.scalar("uuid")?;
        let mut props = Vec::new();
        if let Some(list) = item.get("props") {
            for prop in list.items("props")? {
                let name = prop.require("name", "a prop")?.scalar("name")?.trim();
                let value = prop.require("value", &format!("prop {name:?}"))?;
                let text = value.scalar("value")?.trim().to_string();
                props.push((name.to_string(), text, location(value.node)));
            }
        }
        out.insert(uuid.to_string(), props);
    }
    Ok(out)
}

/// Whether props define a metric.
fn has_metric(props: &[(String, String, Location)]) -> bool {
    props
        .iter()
        .any(|(n, _, _)| n == "metric_key" || n == "metric")
}

impl Found {
    fn add(
        &mut self,
        node: At<'_>,
        (id, at): (String, Location),
        description: Option<String>,
        extra: &[(String, String, Location)],
    ) -> Result<(), PolicyError> {
        let again = self.seen.get(&id).copied();
        if again.is_none() {
            self.seen.insert(id.clone(), at);
        }
        let own = control_from(
            node,
            id.clone(),
            description.clone(),
            extra,
            at,
            self.direct_props,
            self.leniency,
        )?;
        let control = match (own, self.linked_props(node, &id)?) {
            (Some(c), _) => Some(c),
            (None, Some(mut linked)) => {
                // A profile's `alters` still come last and win.
                linked.extend(extra.iter().cloned());
                control_from(
                    node,
                    id.clone(),
                    description,
                    &linked,
                    at,
                    self.direct_props,
                    self.leniency,
                )?
            }
            (None, None) => None,
        };
        // A catalog's prose control and the requirement that implements it
        // with a metric share an id: the metric is the control (a grouping
        // requirement may repeat the id too, as the SDK's samples nest
        // them). Two metrics under one id are both kept, the second under
        // an id of its own, with a warning naming both lines.
        let was_manual = self.manual.contains(&id);
        match (again, control) {
            (None, Some(c)) => self.controls.push(c),
            (None, None) => self.manual.push(id),
            (Some(_), Some(c)) if was_manual => {
                self.manual.retain(|m| *m != id);
                self.controls.push(c);
            }
            (Some(_), None) => {}
            (Some(first), Some(mut c)) => {
                let unique = self.unique_id(&id, node);
                self.warnings.push(format!(
                    "{}:{}:{}: control id {id:?} is used again (first at {first}); this control is reported as {unique:?}",
                    node.path.display(),
                    at.line,
                    at.column
                ));
                self.seen.insert(unique.clone(), at);
                c.id = unique;
                self.controls.push(c);
            }
        }
        Ok(())
    }

    /// An id for a repeated one: `<id>/<requirement uuid>`, else
    /// `<id>/<n>`, never one already used.
    fn unique_id(&self, id: &str, node: At<'_>) -> String {
        let uuid = node.scalar_of("uuid").ok().flatten();
        let candidates = uuid
            .map(|u| format!("{id}/{u}"))
            .into_iter()
            .chain((2..).map(|n| format!("{id}/{n}")));
        candidates
            .into_iter()
            .find(|c| !self.seen.contains_key(c))
            .unwrap_or_else(|| id.to_string())
    }

    /// The metric props of the inventory item a requirement links to; more
    /// than one linked metric is an error (a control evaluates one metric).
    fn linked_props(&self, node: At<'_>, id: &str) -> Result<Option<LinkedProps>, PolicyError> {
        let Some(links) = node.get("links") else {
            return Ok(None);
        };
        let mut linked = Vec::new();
        for link in links.items("links")? {
            let Some(href) = link.scalar_of("href")? else {
                continue;
            };
            let Some(props) = href.strip_prefix('#').and_then(|u| self.inventory.get(u)) else {
                continue; // a link to something else (a back-matter resource)
            };
            if has_metric(props) {
                linked.push((href, props, link));
            }
        }
        match linked.as_slice() {
            [] => Ok(None),
            [(_, props, _)] => Ok(Some(props.to_vec())),
            [_, (_, _, second), ..] => Err(second.error(PolicyErrorKind::SeveralLinkedMetrics {
                control: id.to_string(),
                hrefs: linked.iter().map(|(h, _, _)| h.to_string()).collect(),
            })),
        }
    }
}

fn detect(at: At<'_>) -> Result<(PolicyShape, At<'_>), PolicyError> {
    if at.node.as_sequence().is_some() {
        return Ok((PolicyShape::ControlList, at));
    }
    let shapes = [
        ("component-definition", PolicyShape::ComponentDefinition),
        ("catalog", PolicyShape::Catalog),
        ("profile", PolicyShape::Profile),
        ("system-security-plan", PolicyShape::SystemSecurityPlan),
        ("assessment-plan", PolicyShape::AssessmentPlan),
    ];
    for (key, shape) in shapes {
        if let Some(doc) = at.get(key) {
            return Ok((shape, doc));
        }
    }
    if let Some(list) = at.get("controls") {
        return Ok((PolicyShape::ControlList, list));
    }
    Err(at.error(PolicyErrorKind::UnknownShape {
        found: at.keys().join(", "),
    }))
}

/// `control-id` (OSCAL implementations) or `id` (catalogs, plain lists).
fn control_id(node: At<'_>) -> Result<(String, Location), PolicyError> {
    match node.get("control-id").or_else(|| node.get("id")) {
        Some(id) => Ok((id.scalar("control-id")?.to_string(), location(id.node))),
        None => Err(node.error(PolicyErrorKind::MissingField {
            field: "control-id",
            context: "a control".into(),
        })),
    }
}

fn description(node: At<'_>) -> Result<Option<String>, PolicyError> {
    if let Some(d) = node.scalar_of("description")? {
        return Ok(Some(d.to_string()));
    }
    Ok(node.scalar_of("title")?.map(str::to_string))
}

/// Requirements, and the ones nested in them (the SDK's samples group a
/// control's metric requirements under one requirement of its id).
fn implemented_requirements(list: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    for req in list.items("implemented-requirements")? {
        found.add(req, control_id(req)?, description(req)?, &[])?;
        if let Some(nested) = req.get("implemented-requirements") {
            implemented_requirements(nested, found)?;
        }
    }
    Ok(())
}

fn component_definition(doc: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    let components = doc.require("components", "component-definition")?;
    for component in components.items("components")? {
        let Some(impls) = component.get("control-implementations") else {
            continue;
        };
        for imp in impls.items("control-implementations")? {
            let reqs = imp.require("implemented-requirements", "a control-implementation")?;
            implemented_requirements(reqs, found)?;
        }
    }
    Ok(())
}

/// A catalog's controls; and, as the SDK reads any OSCAL root, the
/// requirements of components or `control-implementation(s)` it carries
/// (linked to its inventory items). A requirement that gives a catalog
/// control its metric takes that control's place.
fn catalog(doc: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    catalog_controls(doc, found, &|_| true, &HashMap::new())?;
    if doc.get("components").is_some() {
        component_definition(doc, found)?;
    }
    if let Some(impls) = doc.get("control-implementations") {
        for imp in impls.items("control-implementations")? {
            let reqs = imp.require("implemented-requirements", "a control-implementation")?;
            implemented_requirements(reqs, found)?;
        }
    }
    if let Some(ci) = doc.get("control-implementation") {
        implemented_requirements(
            ci.require("implemented-requirements", "control-implementation")?,
            found,
        )?;
    }
    Ok(())
}

type Alters = HashMap<String, LinkedProps>;

/// Walks `controls` and `groups` recursively (controls nest as enhancements).
fn catalog_controls(
    node: At<'_>,
    found: &mut Found,
    keep: &dyn Fn(&str) -> bool,
    alters: &Alters,
) -> Result<(), PolicyError> {
    if let Some(controls) = node.get("controls") {
        for control in controls.items("controls")? {
            let id = control_id(control)?;
            if keep(&id.0) {
                let extra = alters.get(&id.0).map(Vec::as_slice).unwrap_or(&[]);
                found.add(control, id, description(control)?, extra)?;
            }
            catalog_controls(control, found, keep, alters)?;
        }
    }
    if let Some(groups) = node.get("groups") {
        for group in groups.items("groups")? {
            catalog_controls(group, found, keep, alters)?;
        }
    }
    Ok(())
}

/// A profile imports catalogs (relative `href`), selects controls with
/// `include-controls: [{with-ids: [...]}]` (all when absent), and adds or
/// overrides props through `modify.alters[].adds[].props`.
fn profile(doc: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    let mut alters: Alters = HashMap::new();
    if let Some(list) = doc.get("modify").and_then(|m| m.get("alters")) {
        for alter in list.items("alters")? {
            let id = alter
                .require("control-id", "an alter")?
                .scalar("control-id")?
                .to_string();
            let Some(adds) = alter.get("adds") else {
                continue;
            };
            for add in adds.items("adds")? {
                let Some(props) = add.get("props") else {
                    continue;
                };
                for prop in props.items("props")? {
                    let name = prop.require("name", "a prop")?.scalar("name")?.to_string();
                    let value = prop.require("value", "a prop")?;
                    let entry = (
                        name,
                        value.scalar("value")?.to_string(),
                        location(value.node),
                    );
                    alters.entry(id.clone()).or_default().push(entry);
                }
            }
        }
    }
    let imports = doc.require("imports", "profile")?;
    for import in imports.items("imports")? {
        let href_at = import.require("href", "an import")?;
        let href = href_at.scalar("href")?;
        let target = resolve_href(import.path, href);
        let wrap = |e: PolicyError| {
            href_at.error(PolicyErrorKind::Import {
                href: href.to_string(),
                source: Box::new(e),
            })
        };
        let text = std::fs::read_to_string(&target).map_err(|e| {
            wrap(PolicyError {
                path: target.clone(),
                location: None,
                kind: Box::new(e.into()),
            })
        })?;
        let root = yaml::parse(&target, &text).map_err(wrap)?;
        let cat = At {
            path: &target,
            node: &root,
        }
        .get("catalog")
        .ok_or_else(|| {
            wrap(PolicyError {
                path: target.clone(),
                location: None,
                kind: Box::new(PolicyErrorKind::MissingField {
                    field: "catalog",
                    context: "an imported document".into(),
                }),
            })
        })?;
        let mut ids: Option<Vec<String>> = None;
        if let Some(includes) = import.get("include-controls") {
            let mut all = Vec::new();
            for inc in includes.items("include-controls")? {
                if let Some(with_ids) = inc.get("with-ids") {
                    for id in with_ids.items("with-ids")? {
                        all.push(id.scalar("with-ids")?.to_string());
                    }
                }
            }
            ids = Some(all);
        }
        let keep = |id: &str| ids.as_ref().is_none_or(|ids| ids.iter().any(|i| i == id));
        catalog_controls(cat, found, &keep, &alters).map_err(wrap)?;
        if let Some(ids) = &ids {
            if let Some(missing) = ids.iter().find(|id| !found.seen.contains_key(*id)) {
                return Err(import.error(PolicyErrorKind::UnknownImportedControl {
                    id: missing.clone(),
                }));
            }
        }
        found.imports.push(SourceFile::new(&target, &text));
    }
    Ok(())
}

fn resolve_href(policy: &Path, href: &str) -> PathBuf {
    let href = href.strip_prefix("file://").unwrap_or(href);
    let base = policy.parent().unwrap_or(Path::new("."));
    base.join(href)
}

fn ssp(doc: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    let ci = doc.require("control-implementation", "system-security-plan")?;
    implemented_requirements(
        ci.require("implemented-requirements", "control-implementation")?,
        found,
    )
}

fn assessment_plan(doc: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    // Venturalitica's own templates (SDK 0.8) put the controls under
    // `control-implementations`, as a component does; OSCAL's assessment
    // plan selects them under `reviewed-controls`. Read whichever is there.
    let implemented = doc.get("control-implementations");
    if let Some(impls) = implemented {
        for imp in impls.items("control-implementations")? {
            let reqs = imp.require("implemented-requirements", "a control-implementation")?;
            implemented_requirements(reqs, found)?;
        }
        if doc.get("reviewed-controls").is_none() {
            return Ok(());
        }
    }
    let reviewed = doc.require("reviewed-controls", "assessment-plan")?;
    // The SDK samples' spine-segmentation plan nests the implementations in
    // `reviewed-controls` itself, with no `control-selections`.
    if let Some(impls) = reviewed.get("control-implementations") {
        for imp in impls.items("control-implementations")? {
            let reqs = imp.require("implemented-requirements", "a control-implementation")?;
            implemented_requirements(reqs, found)?;
        }
        if reviewed.get("control-selections").is_none() {
            return Ok(());
        }
    }
    let selections = reviewed.require("control-selections", "reviewed-controls")?;
    for selection in selections.items("control-selections")? {
        let Some(includes) = selection.get("include-controls") else {
            continue;
        };
        for control in includes.items("include-controls")? {
            found.add(control, control_id(control)?, description(control)?, &[])?;
        }
    }
    Ok(())
}

fn control_list(list: At<'_>, found: &mut Found) -> Result<(), PolicyError> {
    for control in list.items("controls")? {
        found.add(control, control_id(control)?, description(control)?, &[])?;
    }
    Ok(())
}
