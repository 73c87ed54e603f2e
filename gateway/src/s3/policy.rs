//! Bucket policies: the IAM policy language as S3 reads it, parsed into types once
//! ([`Policy::parse`], which refuses what S3 answers MalformedPolicy for) and evaluated
//! as a pure function of a request ([`Policy::evaluate`]), so that every rule here is
//! unit-tested without a server.
//!
//! What is understood: `Effect`, `Principal` / `NotPrincipal` (`*`, or fastgate users
//! by id, by `arn:aws:iam::<account>:user/<id>` or `arn:aws:iam::<id>:root`), `Action` /
//! `NotAction` with `*` and `?` wildcards, `Resource` / `NotResource` ARNs with
//! wildcards, and `Condition` with the String, Numeric, Date, Bool, IpAddress, Null and
//! Arn operators, their `...IfExists` forms and the `ForAnyValue:` / `ForAllValues:`
//! set qualifiers. A policy is evaluated as AWS documents it: an explicit deny wins over
//! an allow, and a request no statement matches is neither allowed nor denied by it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// Why a policy is refused (S3's MalformedPolicy); the message says what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

/// A parsed bucket policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    effect: Effect,
    principal: Principals,
    /// `NotPrincipal`: the statement applies to everyone but `principal`.
    not_principal: bool,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

/// Who a statement names.
#[derive(Debug, Clone, PartialEq)]
enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous requests included.
    Any,
    /// User ids, as the names and ARNs were resolved to.
    Users(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    op: Op,
    if_exists: bool,
    set: SetQualifier,
    /// The context key, normalized by [`normalize_key`].
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    /// A single-valued key: any of the condition's values matches.
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    Null,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
}

impl Op {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "NumericEquals" => Self::NumericEquals,
            "NumericNotEquals" => Self::NumericNotEquals,
            "NumericLessThan" => Self::NumericLessThan,
            "NumericLessThanEquals" => Self::NumericLessThanEquals,
            "NumericGreaterThan" => Self::NumericGreaterThan,
            "NumericGreaterThanEquals" => Self::NumericGreaterThanEquals,
            "DateEquals" => Self::DateEquals,
            "DateNotEquals" => Self::DateNotEquals,
            "DateLessThan" => Self::DateLessThan,
            "DateLessThanEquals" => Self::DateLessThanEquals,
            "DateGreaterThan" => Self::DateGreaterThan,
            "DateGreaterThanEquals" => Self::DateGreaterThanEquals,
            "Bool" => Self::Bool,
            "IpAddress" => Self::IpAddress,
            "NotIpAddress" => Self::NotIpAddress,
            "Null" => Self::Null,
            "ArnEquals" => Self::ArnEquals,
            "ArnNotEquals" => Self::ArnNotEquals,
            "ArnLike" => Self::ArnLike,
            "ArnNotLike" => Self::ArnNotLike,
            _ => return None,
        })
    }

    /// The negated operators hold for a request without the key, as IAM evaluates
    /// them: "not equal to any of these" is true of a missing value.
    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::NumericNotEquals
                | Self::DateNotEquals
                | Self::NotIpAddress
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// Whether one request value matches one condition value, for the positive form of
    /// the operator (the negated ones are the negation of "matches any").
    fn matches(self, have: &str, want: &str) -> bool {
        use std::cmp::Ordering as O;
        let num = |want_ord: &[O]| match (have.trim().parse::<f64>(), want.trim().parse::<f64>()) {
            (Ok(h), Ok(w)) => h.partial_cmp(&w).is_some_and(|o| want_ord.contains(&o)),
            _ => false,
        };
        let date = |want_ord: &[O]| match (parse_date(have), parse_date(want)) {
            (Some(h), Some(w)) => want_ord.contains(&h.cmp(&w)),
            _ => false,
        };
        match self {
            Self::StringEquals | Self::StringNotEquals | Self::ArnEquals | Self::ArnNotEquals => have == want,
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase => have.eq_ignore_ascii_case(want),
            Self::StringLike | Self::StringNotLike | Self::ArnLike | Self::ArnNotLike => wildcard(want, have),
            Self::NumericEquals | Self::NumericNotEquals => num(&[O::Equal]),
            Self::NumericLessThan => num(&[O::Less]),
            Self::NumericLessThanEquals => num(&[O::Less, O::Equal]),
            Self::NumericGreaterThan => num(&[O::Greater]),
            Self::NumericGreaterThanEquals => num(&[O::Greater, O::Equal]),
            Self::DateEquals | Self::DateNotEquals => date(&[O::Equal]),
            Self::DateLessThan => date(&[O::Less]),
            Self::DateLessThanEquals => date(&[O::Less, O::Equal]),
            Self::DateGreaterThan => date(&[O::Greater]),
            Self::DateGreaterThanEquals => date(&[O::Greater, O::Equal]),
            Self::Bool => have.eq_ignore_ascii_case(want),
            Self::IpAddress | Self::NotIpAddress => match (have.parse::<IpAddr>(), parse_cidr(want)) {
                (Ok(ip), Some(net)) => net.contains(&ip),
                _ => false,
            },
            // Decided on presence alone, in `Condition::holds`.
            Self::Null => false,
        }
    }
}

/// A date as the Date operators compare them: ISO 8601 / RFC 3339, or epoch seconds.
fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos())
}

/// A CIDR block, or one address as a block of one.
fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Condition keys compare case-insensitively by name, but the part after a `/` (a tag
/// key in `s3:ExistingObjectTag/<key>`) keeps its case.
pub fn normalize_key(key: &str) -> String {
    match key.split_once('/') {
        Some((name, rest)) => format!("{}/{rest}", name.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

/// `*` matches any run of characters, `?` any one character; the rest matches itself.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Condition {
    fn holds(&self, ctx: &BTreeMap<String, Vec<String>>) -> bool {
        let have = ctx.get(&self.key).filter(|v| !v.is_empty());
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return have.is_none() == want_absent;
        }
        let Some(have) = have else {
            return self.if_exists || self.op.negated() || self.set == SetQualifier::ForAllValues;
        };
        let any_match = |h: &String| self.values.iter().any(|w| self.op.matches(h, w));
        let one = |h: &String| any_match(h) != self.op.negated();
        match self.set {
            SetQualifier::None | SetQualifier::ForAnyValue => have.iter().any(one),
            SetQualifier::ForAllValues => have.iter().all(one),
        }
    }
}

/// One request as a policy sees it.
#[derive(Debug, Clone)]
pub struct PolicyRequest<'a> {
    /// The user id, or `None` for an anonymous request.
    pub principal: Option<&'a str>,
    /// The action's IAM name (`s3:GetObject`).
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// Condition keys (normalized with [`normalize_key`]) and their values.
    pub context: &'a BTreeMap<String, Vec<String>>,
}

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A Deny statement matches: nothing else can allow the request.
    Deny,
    /// An Allow statement matches and no Deny does.
    Allow,
    /// No statement matches: the ACLs and the owner's rights decide.
    NotApplicable,
}

impl Policy {
    /// Parses and checks a policy for `bucket`: valid JSON in the policy grammar, known
    /// S3 actions, and resources in this bucket.
    pub fn parse(text: &str, bucket: &str) -> Result<Self, PolicyError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| malformed(format!("Policies must be valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {k}")));
            }
        }
        if let Some(ver) = obj.get("Version")
            && !matches!(ver.as_str(), Some("2012-10-17" | "2008-10-17"))
        {
            return Err(malformed("The policy must contain a valid version string"));
        }
        let statements = match obj.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return Err(malformed("Missing required field Statement")),
        };
        if statements.is_empty() {
            return Err(malformed("Missing required field Statement"));
        }
        let statements = statements
            .into_iter()
            .map(|s| parse_statement(s, bucket))
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// What the policy says about `req`: an explicit deny wins, then an allow.
    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if s.applies(req) {
                match s.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }

    /// Whether the policy grants access to anyone beyond named users, as S3's Block
    /// Public Access and GetBucketPolicyStatus judge it: an Allow to `*` (or through
    /// `NotPrincipal`) that no condition narrows to fixed users or a fixed IP range.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && (s.not_principal || s.principal == Principals::Any)
                && !s.conditions.iter().any(Condition::narrows_to_non_public)
        })
    }

    /// The user ids the statements name (as Principal or NotPrincipal), for the caller
    /// to check that they exist.
    pub fn named_users(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .flat_map(|s| match &s.principal {
                Principals::Any => [].iter(),
                Principals::Users(ids) => ids.iter(),
            })
            .map(String::as_str)
    }

    /// Whether the policy has a condition on `key` (normalized), so that the caller
    /// knows whether that key's values are worth finding.
    pub fn mentions_key_prefix(&self, prefix: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key.starts_with(prefix))
    }
}

impl Condition {
    /// A condition that limits an Allow to fixed principals or a fixed network, which
    /// makes it non-public in S3's sense.
    fn narrows_to_non_public(&self) -> bool {
        let fixed_values = !self.values.is_empty() && self.values.iter().all(|v| !v.contains(['*', '?']));
        match (self.op, self.key.as_str()) {
            (Op::IpAddress, "aws:sourceip") => self.values.iter().all(|v| {
                parse_cidr(v).is_some_and(|n| match n {
                    IpNet::V4(n) => n.prefix_len() >= 8,
                    IpNet::V6(n) => n.prefix_len() >= 32,
                })
            }),
            (
                Op::StringEquals | Op::StringEqualsIgnoreCase | Op::ArnEquals,
                "aws:userid"
                | "aws:username"
                | "aws:principalaccount"
                | "aws:principalarn"
                | "aws:sourcevpc"
                | "aws:sourcevpce"
                | "aws:sourceaccount"
                | "aws:sourcearn",
            ) => fixed_values,
            _ => false,
        }
    }
}

impl Statement {
    fn applies(&self, req: &PolicyRequest<'_>) -> bool {
        let named = match (&self.principal, req.principal) {
            (Principals::Any, _) => true,
            (Principals::Users(ids), Some(user)) => ids.iter().any(|id| id == user),
            (Principals::Users(_), None) => false,
        };
        if named == self.not_principal {
            return false;
        }
        let action = self.actions.iter().any(|a| wildcard_ci(a, req.action));
        if action == self.not_action {
            return false;
        }
        let resource = self.resources.iter().any(|r| wildcard(r, req.resource));
        if resource == self.not_resource {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(req.context))
    }
}

/// Actions match case-insensitively (`s3:getobject` is `s3:GetObject`).
fn wildcard_ci(pattern: &str, text: &str) -> bool {
    wildcard(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// A JSON value that may be one string or an array of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed(format!("{what} must be a string or an array of strings"))),
    };
    match v {
        Value::Array(a) if a.is_empty() => Err(malformed(format!("{what} must not be empty"))),
        Value::Array(a) => a.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn parse_statement(v: &Value, bucket: &str) -> Result<Statement, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("A statement must be a JSON object"))?;
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("Unknown field {k}")));
        }
    }
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(_) => return Err(malformed("Invalid effect: the effect must be Allow or Deny")),
        None => return Err(malformed("Missing required field Effect")),
    };
    let (principal, not_principal) = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(p), None) => (parse_principal(p)?, false),
        (None, Some(p)) => (parse_principal(p)?, true),
        (None, None) => return Err(malformed("Missing required field Principal")),
        (Some(_), Some(_)) => return Err(malformed("A statement cannot have both Principal and NotPrincipal")),
    };
    let (actions, not_action) = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(a), None) => (strings(a, "Action")?, false),
        (None, Some(a)) => (strings(a, "NotAction")?, true),
        (None, None) => return Err(malformed("Missing required field Action")),
        (Some(_), Some(_)) => return Err(malformed("A statement cannot have both Action and NotAction")),
    };
    for a in &actions {
        check_action(a)?;
    }
    let (resources, not_resource) = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(r), None) => (strings(r, "Resource")?, false),
        (None, Some(r)) => (strings(r, "NotResource")?, true),
        (None, None) => return Err(malformed("Missing required field Resource")),
        (Some(_), Some(_)) => return Err(malformed("A statement cannot have both Resource and NotResource")),
    };
    for r in &resources {
        check_resource(r, bucket)?;
    }
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c)?,
    };
    Ok(Statement {
        effect,
        principal,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
    })
}

fn parse_principal(v: &Value) -> Result<Principals, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::Object(m) => {
            let mut ids = Vec::new();
            for (kind, who) in m {
                match kind.as_str() {
                    "AWS" | "CanonicalUser" => {
                        for w in strings(who, "Principal")? {
                            if w == "*" {
                                return Ok(Principals::Any);
                            }
                            ids.push(principal_id(&w)?);
                        }
                    }
                    // Service principals name no fastgate user: they match nobody.
                    "Service" | "Federated" => {
                        strings(who, "Principal")?;
                    }
                    _ => return Err(malformed("Invalid principal in policy")),
                }
            }
            Ok(Principals::Users(ids))
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

/// The user id a principal names: the id itself, `arn:aws:iam::<account>:user/<id>`
/// (a path before the name is allowed) or `arn:aws:iam::<id>:root`.
fn principal_id(p: &str) -> Result<String, PolicyError> {
    let Some(rest) = p.strip_prefix("arn:aws:iam::") else {
        if p.is_empty() || p.contains([':', '/', '*']) {
            return Err(malformed("Invalid principal in policy"));
        }
        return Ok(p.to_owned());
    };
    let (account, resource) = rest
        .split_once(':')
        .ok_or_else(|| malformed("Invalid principal in policy"))?;
    if resource == "root" && !account.is_empty() {
        return Ok(account.to_owned());
    }
    match resource.strip_prefix("user/").and_then(|r| r.rsplit('/').next()) {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(malformed("Invalid principal in policy")),
    }
}

fn check_action(a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let lower = a.to_ascii_lowercase();
    let known = lower
        .strip_prefix("s3:")
        .is_some_and(|_| S3_ACTIONS.iter().any(|k| wildcard(&lower, &k.to_ascii_lowercase())));
    if known {
        Ok(())
    } else {
        Err(malformed(format!("Policy has invalid action: {a}")))
    }
}

/// A resource must be an S3 ARN of this bucket or of objects in it.
fn check_resource(r: &str, bucket: &str) -> Result<(), PolicyError> {
    let in_bucket = r.strip_prefix("arn:aws:s3:::").is_some_and(|path| {
        let bucket_part = path.split('/').next().unwrap_or(path);
        // `arn:aws:s3:::*` and `arn:aws:s3:::phot*` name this bucket too.
        wildcard(bucket_part, bucket)
    });
    if in_bucket || r == "*" {
        Ok(())
    } else {
        Err(malformed(format!("Policy has invalid resource: {r}")))
    }
}

fn parse_conditions(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("Condition must be a JSON object"))?;
    let mut out = Vec::new();
    for (op_name, keys) in obj {
        let (set, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, op_name.as_str())
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(n) if n != "Null" => (n, true),
            _ => (rest, false),
        };
        let op = Op::parse(name).ok_or_else(|| malformed(format!("Invalid Condition type: {op_name}")))?;
        let keys = keys
            .as_object()
            .ok_or_else(|| malformed(format!("Condition {op_name} must map keys to values")))?;
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !(lower.starts_with("aws:") || lower.starts_with("s3:")) {
                return Err(malformed(format!("Policy has an invalid condition key: {key}")));
            }
            let values = strings(values, "A condition value")?;
            if matches!(op, Op::IpAddress | Op::NotIpAddress) && values.iter().any(|v| parse_cidr(v).is_none()) {
                return Err(malformed(format!("Invalid IP address in condition {op_name}")));
            }
            out.push(Condition {
                op,
                if_exists,
                set,
                key: normalize_key(key),
                values,
            });
        }
    }
    Ok(out)
}

/// The S3 actions a policy may name (IAM's list for the `s3` service), against which
/// `Action` patterns are checked: a pattern that matches none is refused.
const S3_ACTIONS: &[&str] = &[
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
    "s3:CreateBucket",
    "s3:CreateJob",
    "s3:DeleteBucket",
    "s3:DeleteBucketOwnershipControls",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetAccelerateConfiguration",
    "s3:GetAnalyticsConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetMetricsConfiguration",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent",
    "s3:GetReplicationConfiguration",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListMultipartUploadParts",
    "s3:ObjectOwnerOverrideToBucketOwner",
    "s3:PutAccelerateConfiguration",
    "s3:PutAnalyticsConfiguration",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketLogging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration",
    "s3:PutInventoryConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
    "s3:PutReplicationConfiguration",
    "s3:ReplicateDelete",
    "s3:ReplicateObject",
    "s3:ReplicateTags",
    "s3:RestoreObject",
];

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: &str = "photos";

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (normalize_key(k), vec![(*v).to_owned()]))
            .collect()
    }

    fn decide(policy: &str, principal: Option<&str>, action: &str, resource: &str, c: &[(&str, &str)]) -> Decision {
        let p = Policy::parse(policy, BUCKET).unwrap();
        let context = ctx(c);
        p.evaluate(&PolicyRequest {
            principal,
            action,
            resource,
            context: &context,
        })
    }

    const OBJ: &str = "arn:aws:s3:::photos/public/cat.jpg";

    #[test]
    fn a_public_read_policy_allows_anyone_to_get_and_nothing_else() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
            "Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#;
        assert_eq!(decide(p, None, "s3:GetObject", OBJ, &[]), Decision::Allow);
        assert_eq!(decide(p, Some("bob"), "s3:GetObject", OBJ, &[]), Decision::Allow);
        assert_eq!(decide(p, None, "s3:PutObject", OBJ, &[]), Decision::NotApplicable);
        assert_eq!(
            decide(p, None, "s3:ListBucket", "arn:aws:s3:::photos", &[]),
            Decision::NotApplicable
        );
        assert!(Policy::parse(p, BUCKET).unwrap().is_public());
    }

    #[test]
    fn an_explicit_deny_beats_an_allow() {
        let p = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":["bob"]},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/private/*"}]}"#;
        assert_eq!(decide(p, Some("bob"), "s3:GetObject", OBJ, &[]), Decision::Allow);
        assert_eq!(
            decide(p, Some("bob"), "s3:GetObject", "arn:aws:s3:::photos/private/x", &[]),
            Decision::Deny
        );
        assert!(!Policy::parse(p, BUCKET).unwrap().is_public());
    }

    #[test]
    fn principals_name_users_by_id_and_by_arn() {
        for who in [
            r#""bob""#,
            r#""arn:aws:iam::123456789012:user/bob""#,
            r#""arn:aws:iam::123456789012:user/team/bob""#,
            r#""arn:aws:iam::bob:root""#,
        ] {
            let p = format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":{who}}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}}}"#
            );
            assert_eq!(
                decide(&p, Some("bob"), "s3:GetObject", OBJ, &[]),
                Decision::Allow,
                "{who}"
            );
            assert_eq!(
                decide(&p, Some("eve"), "s3:GetObject", OBJ, &[]),
                Decision::NotApplicable,
                "{who}"
            );
            assert_eq!(
                decide(&p, None, "s3:GetObject", OBJ, &[]),
                Decision::NotApplicable,
                "{who}"
            );
        }
    }

    #[test]
    fn not_principal_not_action_and_not_resource_invert_their_match() {
        let p = r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"alice"},"NotAction":"s3:Get*",
            "NotResource":"arn:aws:s3:::photos/public/*"}}"#;
        let other = "arn:aws:s3:::photos/secret";
        assert_eq!(decide(p, Some("bob"), "s3:PutObject", other, &[]), Decision::Deny);
        assert_eq!(decide(p, None, "s3:DeleteObject", other, &[]), Decision::Deny);
        assert_eq!(
            decide(p, Some("alice"), "s3:PutObject", other, &[]),
            Decision::NotApplicable
        );
        assert_eq!(
            decide(p, Some("bob"), "s3:GetObject", other, &[]),
            Decision::NotApplicable
        );
        assert_eq!(
            decide(p, Some("bob"), "s3:PutObject", OBJ, &[]),
            Decision::NotApplicable
        );
    }

    #[test]
    fn actions_match_with_wildcards_and_any_case() {
        let p = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":["s3:get*","s3:List?ucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}}"#;
        assert_eq!(decide(p, None, "s3:GetObjectAcl", OBJ, &[]), Decision::Allow);
        assert_eq!(
            decide(p, None, "s3:ListBucket", "arn:aws:s3:::photos", &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(p, None, "s3:ListBucketVersions", "arn:aws:s3:::photos", &[]),
            Decision::NotApplicable
        );
    }

    #[test]
    fn string_conditions_over_the_listing_prefix() {
        let p = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:ListBucket",
            "Resource":"arn:aws:s3:::photos","Condition":{"StringLike":{"s3:prefix":["public/*"]}}}}"#;
        let b = "arn:aws:s3:::photos";
        assert_eq!(
            decide(p, Some("bob"), "s3:ListBucket", b, &[("s3:prefix", "public/2024")]),
            Decision::Allow
        );
        assert_eq!(
            decide(p, Some("bob"), "s3:ListBucket", b, &[("s3:prefix", "private/")]),
            Decision::NotApplicable
        );
        assert_eq!(decide(p, Some("bob"), "s3:ListBucket", b, &[]), Decision::NotApplicable);
    }

    #[test]
    fn negated_and_if_exists_conditions_hold_for_a_missing_key() {
        let p = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*",
            "Condition":{"StringNotEquals":{"s3:x-amz-acl":"private"}}}}"#;
        assert_eq!(decide(p, Some("bob"), "s3:PutObject", OBJ, &[]), Decision::Deny);
        assert_eq!(
            decide(p, Some("bob"), "s3:PutObject", OBJ, &[("s3:x-amz-acl", "public-read")]),
            Decision::Deny
        );
        assert_eq!(
            decide(p, Some("bob"), "s3:PutObject", OBJ, &[("s3:x-amz-acl", "private")]),
            Decision::NotApplicable
        );
        let p = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos",
            "Condition":{"NumericLessThanEqualsIfExists":{"s3:max-keys":"10"}}}}"#;
        let b = "arn:aws:s3:::photos";
        assert_eq!(decide(p, None, "s3:ListBucket", b, &[]), Decision::Allow);
        assert_eq!(
            decide(p, None, "s3:ListBucket", b, &[("s3:max-keys", "5")]),
            Decision::Allow
        );
        assert_eq!(
            decide(p, None, "s3:ListBucket", b, &[("s3:max-keys", "50")]),
            Decision::NotApplicable
        );
    }

    #[test]
    fn ip_bool_date_and_null_conditions() {
        let p = r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*",
             "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*",
             "Condition":{"Bool":{"aws:SecureTransport":"false"},"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#;
        let secure = ("aws:SecureTransport", "true");
        let now = ("aws:CurrentTime", "2026-11-30T12:00:00Z");
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("aws:SourceIp", "10.1.2.3"), secure, now]
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(p, None, "s3:GetObject", OBJ, &[("aws:SourceIp", "::1"), secure, now]),
            Decision::Allow
        );
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("aws:SourceIp", "192.168.1.1"), secure, now]
            ),
            Decision::NotApplicable
        );
        let later = ("aws:CurrentTime", "2031-01-01T00:00:00Z");
        let plain = ("aws:SecureTransport", "false");
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("aws:SourceIp", "10.1.2.3"), plain, later]
            ),
            Decision::Deny
        );
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("aws:SourceIp", "10.1.2.3"), plain, now]
            ),
            Decision::Allow
        );
        assert!(!Policy::parse(p, BUCKET).unwrap().is_public());

        let null = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*",
            "Condition":{"Null":{"s3:RequestObjectTag/project":"true"}}}}"#;
        assert_eq!(decide(null, None, "s3:PutObject", OBJ, &[]), Decision::Deny);
        assert_eq!(
            decide(null, None, "s3:PutObject", OBJ, &[("s3:RequestObjectTag/project", "x")]),
            Decision::NotApplicable
        );
    }

    #[test]
    fn tag_condition_keys_keep_the_case_of_the_tag() {
        let p = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*",
            "Condition":{"StringEquals":{"S3:ExistingObjectTag/Class":"public"}}}}"#;
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("s3:ExistingObjectTag/Class", "public")]
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                p,
                None,
                "s3:GetObject",
                OBJ,
                &[("s3:ExistingObjectTag/class", "public")]
            ),
            Decision::NotApplicable
        );
    }

    #[test]
    fn malformed_policies_are_refused() {
        let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
        for bad in [
            "not json".to_owned(),
            "[]".to_owned(),
            r#"{"Version":"2012-10-17"}"#.to_owned(),
            r#"{"Statement":[],"Version":"2012-10-17"}"#.to_owned(),
            r#"{"Version":"2020-01-01","Statement":[]}"#.to_owned(),
            stmt(r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#),
            stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObjects","Resource":"arn:aws:s3:::photos/*"}"#),
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::photos/*"}"#,
            ),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:Frob*","Resource":"arn:aws:s3:::photos/*"}"#),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"photos/*"}"#),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}"#),
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringSortOf":{"s3:prefix":"a"}}}"#,
            ),
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"not-an-ip"}}}"#,
            ),
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Extra":1}"#,
            ),
        ] {
            assert!(Policy::parse(&bad, BUCKET).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a*", "a"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("a*c", "abd"));
        assert!(wildcard("arn:aws:s3:::b/*/x", "arn:aws:s3:::b/1/2/x"));
    }
}
