//! Raw document → validated model: `${VAR}` expansion, typing, defaults,
//! legacy layouts and validation, with errors that name the field.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use kes_keystore::CacheConfig;
use kes_policy::names::is_valid_name;
use kes_types::Api;

use super::goduration;
use super::model::*;
use super::raw::{self, Any, List, RawKeyStores, RawKeys, Str};
use crate::error::Error;
use crate::events::Level;

/// See [`super::load`].
pub(crate) fn load(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Error> {
    let raw = raw::parse(text).map_err(Error::ConfigSyntax)?;
    let mut cx = Cx {
        env,
        warnings: Vec::new(),
    };

    // version: not env-expanded; only "v1".
    if let Some(Str(v)) = &raw.version {
        if !v.is_empty() && v != "v1" {
            return Err(Error::invalid(
                "version",
                format!("kesconf: invalid config version '{v}'"),
            ));
        }
    }

    // Which layout? Anything pre-v0.18 makes every policy use the legacy matcher.
    let legacy_paths = raw.policy.as_ref().is_some_and(|p| {
        p.0.iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| v.paths.is_some()))
    });
    let legacy_keys = matches!(raw.keys, Some(RawKeys::LegacyBackends(_)));
    let legacy = raw.root.is_some() || legacy_paths || legacy_keys;

    // address
    let address = match cx.string(&raw.address, "address")? {
        s if s.is_empty() => Address::DEFAULT,
        s => parse_address(&s).map_err(|m| Error::invalid("address", m))?,
    };

    // admin.identity, or legacy root.
    let admin_identity = raw.admin.as_ref().and_then(|a| a.identity.clone());
    let mut admin = cx.string(&admin_identity, "admin.identity")?;
    if raw.root.is_some() {
        let root = cx.string(&raw.root, "root")?;
        cx.warn(
            "root",
            "legacy field (KES ≤ v0.17): loaded as admin.identity; rename it to admin.identity",
        );
        if admin.is_empty() {
            admin = root;
        } else if !root.is_empty() && root != admin {
            return Err(Error::invalid(
                "root",
                "kesconf: invalid admin identity: 'root' (legacy) and 'admin.identity' differ",
            ));
        }
    }
    if admin.is_empty() {
        return Err(Error::invalid(
            "admin.identity",
            "kesconf: invalid admin identity: no admin identity",
        ));
    }
    if admin.len() == 64 && admin.bytes().all(|b| b.is_ascii_hexdigit()) && !is_hex_identity(&admin)
    {
        cx.warn(
            "admin.identity",
            "contains upper-case hex digits: identities are lower-case, so it never matches a \
             client (admin access is effectively disabled)",
        );
    }

    // tls
    let tls_raw = raw.tls.unwrap_or_default();
    let key = cx.string(&tls_raw.key, "tls.key")?;
    if key.is_empty() {
        return Err(Error::invalid(
            "tls.key",
            "kesconf: invalid tls config: no private key",
        ));
    }
    let cert = cx.string(&tls_raw.cert, "tls.cert")?;
    if cert.is_empty() {
        return Err(Error::invalid(
            "tls.cert",
            "kesconf: invalid tls config: no certificate",
        ));
    }
    let password = cx.string(&tls_raw.password, "tls.password")?;
    let auth_text = cx.string(&tls_raw.auth, "tls.auth")?;
    let auth = match auth_text.to_lowercase().as_str() {
        "" | "off" => TlsAuth::Off,
        "on" => TlsAuth::On,
        _ => {
            return Err(Error::invalid(
                "tls.auth",
                format!("kesconf: invalid tls config: invalid auth '{auth_text}'"),
            ));
        }
    };
    let ca = cx.path(&tls_raw.ca, "tls.ca")?;
    let mut proxy = ProxyConfig::default();
    if let Some(p) = &tls_raw.proxy {
        proxy.identities = cx.list(&p.identities, "tls.proxy.identities")?;
        let header = p.header.as_ref().and_then(|h| h.cert.clone());
        let header = cx.string(&header, "tls.proxy.header.cert")?;
        if !header.is_empty() {
            proxy.cert_header = header;
        }
    }
    if raw.proxy.is_some() {
        cx.warn(
            "proxy",
            "ignored: KES reads TLS proxies only from tls.proxy; move the block under tls:",
        );
    }
    for (i, id) in proxy.identities.iter().enumerate() {
        let field = format!("tls.proxy.identities[{i}]");
        if *id == admin {
            return Err(Error::invalid(
                field,
                format!("kesconf: invalid tls proxy: identity '{id}' is already admin"),
            ));
        }
        check_identity(id, &field)?;
    }

    // policy
    let mut policies: Vec<PolicyConfig> = Vec::new();
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    for (name, p) in raw.policy.map(|p| p.0).unwrap_or_default() {
        let base = format!("policy.{name}");
        let p = p.unwrap_or_default();
        let mut allow = literal_list(&p.allow);
        let deny = literal_list(&p.deny);
        if p.paths.is_some() {
            if p.allow.is_some() {
                return Err(Error::invalid(
                    format!("{base}.paths"),
                    format!(
                        "kesconf: invalid policy '{name}': both 'paths' (legacy) and 'allow' are set"
                    ),
                ));
            }
            allow = literal_list(&p.paths);
            cx.warn(
                format!("{base}.paths"),
                "legacy field (KES ≤ v0.14): loaded as allow; rename it to allow",
            );
        }
        let identities = cx.list(&p.identities, &format!("{base}.identities"))?;
        if !is_valid_name(&name) {
            return Err(Error::invalid(
                base,
                format!(
                    "kes: policy name '{name}' is empty, too long or contains invalid characters"
                ),
            ));
        }
        for (i, id) in identities.iter().enumerate() {
            let field = format!("{base}.identities[{i}]");
            if *id == admin {
                return Err(Error::invalid(
                    field,
                    format!("kesconf: invalid policy '{name}': identity '{id}' is already admin"),
                ));
            }
            if proxy.identities.contains(id) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "kesconf: invalid policy '{name}': identity '{id}' is already a TLS proxy"
                    ),
                ));
            }
            check_identity(id, &field)?;
            if let Some(first) = assigned.insert(id.clone(), name.clone()) {
                if first != name {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "kes: cannot assign policy '{name}' to '{id}': identity already has a \
                             policy ('{first}')"
                        ),
                    ));
                }
            }
        }
        policies.push(PolicyConfig {
            name,
            allow,
            deny,
            identities,
            legacy,
        });
    }
    if legacy && !policies.is_empty() {
        cx.warn(
            "policy",
            "this file uses a pre-v0.18 layout: its policies are evaluated with the legacy glob \
             matcher (Go path.Match) they were written for; convert the file to the current \
             layout to use the current prefix matcher",
        );
    }

    // cache
    let expiry = raw.cache.and_then(|c| c.expiry).unwrap_or_default();
    let any = cx.duration(&expiry.any, "cache.expiry.any")?;
    if any < 0 {
        return Err(Error::invalid(
            "cache.expiry.any",
            format!(
                "kesconf: invalid cache expiry '{}'",
                goduration::format(any)
            ),
        ));
    }
    let unused = cx.duration(&expiry.unused, "cache.expiry.unused")?;
    if unused < 0 {
        return Err(Error::invalid(
            "cache.expiry.unused",
            format!(
                "kesconf: invalid cache unused expiry '{}'",
                goduration::format(unused)
            ),
        ));
    }
    let offline = cx.duration(&expiry.offline, "cache.expiry.offline")?;
    if offline < 0 {
        return Err(Error::invalid(
            "cache.expiry.offline",
            format!(
                "kesconf: invalid offline cache expiry '{}'",
                goduration::format(offline)
            ),
        ));
    }
    // Documented defaults for zero/unset values (spec §9 marks upstream's
    // `unused` default as a bug; we follow the documentation).
    let cache = CacheConfig {
        any: if any == 0 {
            CacheConfig::DEFAULT_ANY
        } else {
            nanos(any)
        },
        unused: if unused == 0 {
            CacheConfig::DEFAULT_UNUSED
        } else {
            nanos(unused)
        },
        offline: nanos(offline),
        ..CacheConfig::default()
    };

    // log
    let log_raw = raw.log.unwrap_or_default();
    let error_level = cx.string(&log_raw.error, "log.error")?;
    let error_level = parse_log_level(&error_level).map_err(|m| Error::invalid("log.error", m))?;
    let audit_level = cx.string(&log_raw.audit, "log.audit")?;
    let audit_level = parse_log_level(&audit_level).map_err(|m| Error::invalid("log.audit", m))?;
    let log = LogConfig {
        error: error_level,
        audit: audit_level,
    };

    // api
    let mut api = BTreeMap::new();
    let mut any_skip_auth = false;
    for (path, a) in raw.api.map(|a| a.0).unwrap_or_default() {
        let a = a.unwrap_or_default();
        let base = format!("api.{path}");
        let timeout = cx.duration(&a.timeout, &format!("{base}.timeout"))?;
        if timeout < 0 {
            return Err(Error::invalid(
                format!("{base}.timeout"),
                format!("kesconf: invalid timeout '{timeout}' for API '{path}'"),
            ));
        }
        let skip_auth = cx.bool(&a.skip_auth, &format!("{base}.skip_auth"))?;
        let Some(route) = Api::from_path(&path) else {
            cx.warn(
                base,
                "not a KES API path; ignored (prefix routes end in '/')",
            );
            continue;
        };
        if skip_auth && !route.skip_auth_allowed() {
            return Err(Error::invalid(
                format!("{base}.skip_auth"),
                format!(
                    "kesconf: invalid api config: skip_auth is not allowed for '{path}' (only \
                     /v1/ready, /v1/status, /v1/metrics and /v1/api)"
                ),
            ));
        }
        any_skip_auth |= skip_auth;
        let timeout = if timeout > 0 {
            Some(nanos(timeout))
        } else {
            None
        };
        api.insert(route, ApiConfig { timeout, skip_auth });
    }
    let client_auth = match (auth, any_skip_auth) {
        (TlsAuth::Off, false) => ClientAuth::RequireAny,
        (TlsAuth::On, false) => ClientAuth::RequireAndVerify,
        (TlsAuth::Off, true) => ClientAuth::Request,
        (TlsAuth::On, true) => ClientAuth::VerifyIfGiven,
    };
    let tls = TlsConfig {
        key: PathBuf::from(key),
        cert: PathBuf::from(cert),
        password: if password.is_empty() {
            None
        } else {
            Some(SecretText::new(password))
        },
        auth,
        ca,
        proxy,
        client_auth,
    };

    // keys, and the v0.13 `keys.<backend>` layout.
    let mut keys = Vec::new();
    let mut legacy_store = None;
    match raw.keys {
        None => {}
        Some(RawKeys::List(list)) => {
            for (i, entry) in list.into_iter().enumerate() {
                let field = format!("keys[{i}].name");
                let name = cx.string(&entry.and_then(|e| e.name), &field)?;
                if name.is_empty() {
                    return Err(Error::invalid(
                        field,
                        "kesconf: invalid key config: empty key name",
                    ));
                }
                if keys.contains(&name) {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "kesconf: invalid key config: key '{name}' is defined multiple times"
                        ),
                    ));
                }
                keys.push(name);
            }
        }
        Some(RawKeys::LegacyBackends(stores)) => {
            cx.warn(
                "keys",
                "legacy layout (KES ≤ v0.13): keys.<backend> loaded as keystore.<backend>; move \
                 the block under keystore:",
            );
            legacy_store = Some(stores);
        }
    }

    // keystore
    let keystore = match (raw.keystore, legacy_store) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "keys",
                "kesconf: invalid keystore config: more than once keystore specified (legacy \
                 keys.<backend> and keystore.<backend>)",
            ));
        }
        (Some(stores), None) => keystore(&mut cx, stores, "keystore", legacy)?,
        (None, Some(stores)) => keystore(&mut cx, *stores, "keys", true)?,
        (None, None) => {
            return Err(Error::invalid("keystore", "kesconf: no keystore specified"));
        }
    };

    Ok(Loaded {
        config: Config {
            address,
            admin,
            tls,
            cache,
            log,
            api,
            policies,
            keys,
            keystore,
        },
        warnings: cx.warnings,
    })
}

/// Conversion context: the env lookup and the warnings so far.
struct Cx<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<Warning>,
}

/// A scalar after `${VAR}` expansion.
struct Expanded {
    value: String,
    from_env: bool,
}

impl Cx<'_> {
    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            field: field.into(),
            message: message.into(),
        });
    }

    /// KES's rule: a scalar whose whole trimmed value is `${NAME}` (spaces
    /// inside the braces trimmed) is replaced by the variable's value; a
    /// missing variable is an error; nothing else is substituted.
    fn expand(&self, text: &str, field: &str) -> Result<Expanded, Error> {
        let trimmed = text.trim();
        match trimmed
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(inner) => {
                let var = inner.trim();
                match (self.env)(var) {
                    Some(value) => Ok(Expanded {
                        value,
                        from_env: true,
                    }),
                    None => Err(Error::MissingEnvVar {
                        var: var.to_owned(),
                        field: field.to_owned(),
                    }),
                }
            }
            None => Ok(Expanded {
                value: text.to_owned(),
                from_env: false,
            }),
        }
    }

    /// A string field; absent or null is empty.
    fn string(&self, v: &Option<Str>, field: &str) -> Result<String, Error> {
        Ok(self.expanded(v, field)?.value)
    }

    fn expanded(&self, v: &Option<Str>, field: &str) -> Result<Expanded, Error> {
        match v {
            Some(Str(text)) => self.expand(text, field),
            None => Ok(Expanded {
                value: String::new(),
                from_env: false,
            }),
        }
    }

    /// A path field; absent, null or empty is `None`.
    fn path(&self, v: &Option<Str>, field: &str) -> Result<Option<PathBuf>, Error> {
        let s = self.string(v, field)?;
        Ok(if s.is_empty() {
            None
        } else {
            Some(PathBuf::from(s))
        })
    }

    /// A list of strings, each element env-expanded; null elements are empty.
    fn list(&self, v: &Option<List<Str>>, field: &str) -> Result<Vec<String>, Error> {
        let Some(items) = v else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{field}[{i}]")))
            .collect()
    }

    /// A boolean: YAML `true`/`false`, or (after quoting or `${VAR}`) one of
    /// `true false True False TRUE FALSE y Y yes Yes YES n N no No NO on On
    /// ON off Off OFF`. Absent is false.
    fn bool(&self, v: &Option<Any>, field: &str) -> Result<bool, Error> {
        let text = match v {
            None => return Ok(false),
            Some(Any::Bool(b)) => return Ok(*b),
            Some(Any::Str(s)) => self.expand(s, field)?.value,
            Some(Any::Number(n)) => n.clone(),
        };
        match text.as_str() {
            "true" | "True" | "TRUE" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
                Ok(true)
            }
            "false" | "False" | "FALSE" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off"
            | "OFF" => Ok(false),
            _ => Err(Error::invalid(
                field,
                format!("kesconf: invalid boolean '{text}'"),
            )),
        }
    }

    /// A Go duration in nanoseconds (may be negative); absent is zero. Bare
    /// numbers are rejected, as in KES (`0` must be written `0s`).
    fn duration(&self, v: &Option<Any>, field: &str) -> Result<i64, Error> {
        match v {
            None => Ok(0),
            Some(Any::Str(s)) => {
                let text = self.expand(s, field)?.value;
                goduration::parse(&text)
                    .map_err(|e| Error::invalid(field, format!("kesconf: invalid duration: {e}")))
            }
            Some(Any::Number(n)) => Err(Error::invalid(
                field,
                format!(
                    "kesconf: invalid duration '{n}': a number without a unit is not a duration \
                     (write e.g. '{n}s')"
                ),
            )),
            Some(Any::Bool(b)) => Err(Error::invalid(
                field,
                format!("kesconf: invalid duration '{b}'"),
            )),
        }
    }
}

/// Policy patterns: taken literally (never env-expanded); null is empty.
fn literal_list(v: &Option<List<Str>>) -> Vec<String> {
    v.iter()
        .flatten()
        .map(|s| s.as_ref().map(|Str(s)| s.clone()).unwrap_or_default())
        .collect()
}

fn nanos(n: i64) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

fn check_identity(id: &str, field: &str) -> Result<(), Error> {
    if is_valid_name(id) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("kes: identity '{id}' is empty, too long or contains invalid characters"),
        ))
    }
}

/// `host:port` with an IP literal (IPv6 in brackets) or an empty host, and
/// a numeric port.
fn parse_address(s: &str) -> Result<Address, String> {
    let bad = |why: &str| format!("kesconf: invalid address '{s}': {why}");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, rest) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        let port = rest.strip_prefix(':').ok_or_else(|| bad("missing port"))?;
        (host, port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
        if host.contains(':') {
            return Err(bad("too many colons (write IPv6 addresses as [ip]:port)"));
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the port must be a number"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be between 0 and 65535"))?;
    let ip = if host.is_empty() {
        None
    } else {
        Some(
            host.parse::<IpAddr>()
                .map_err(|_| bad("the host must be an IP address"))?,
        )
    };
    Ok(Address { ip, port })
}

/// KES's log level syntax: case-insensitive `DEBUG`, `INFO`, `WARN`,
/// `ERROR` with an optional `+N`, an integer, `on` (INFO), `off` (ERROR+1),
/// or empty (INFO). The error texts are KES's.
fn parse_log_level(text: &str) -> Result<Level, String> {
    let s = text.trim().to_uppercase();
    match s.as_str() {
        "" | "ON" => return Ok(Level::INFO),
        "OFF" => return Ok(Level::OFF),
        _ => {}
    }
    for (name, base) in [
        ("DEBUG", Level::DEBUG),
        ("INFO", Level::INFO),
        ("WARN", Level::WARN),
        ("ERROR", Level::ERROR),
    ] {
        if !s.starts_with(name) {
            continue;
        }
        if s == name {
            return Ok(base);
        }
        let suffix = match s.split_once('+') {
            Some((level, suffix)) if level.trim() == name => suffix,
            _ => return Err(format!("kesconf: invalid log level '{s}'")),
        };
        let n = atoi(suffix)
            .map_err(|e| format!("kesconf: invalid log level suffix '{suffix}': {e}"))?;
        return base
            .0
            .checked_add(n)
            .map(Level)
            .ok_or_else(|| format!("kesconf: invalid log level '{s}'"));
    }
    atoi(&s).map(Level)
}

/// Go's `strconv.Atoi` with its error text (range limited to `i32`).
fn atoi(s: &str) -> Result<i32, String> {
    let syntax = || format!("strconv.Atoi: parsing \"{s}\": invalid syntax");
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    s.parse::<i32>()
        .map_err(|_| format!("strconv.Atoi: parsing \"{s}\": value out of range"))
}

/// The one keystore of `stores` (at `base`: `keystore`, or `keys` for the
/// v0.13 layout). A legacy file is read as KES v0.18 read it (see
/// [`select_legacy`]).
fn keystore(
    cx: &mut Cx<'_>,
    stores: RawKeyStores,
    base: &str,
    legacy: bool,
) -> Result<KeyStoreConfig, Error> {
    if let Some(name) = stores.unknown.first() {
        return Err(Error::invalid(
            format!("{base}.{name}"),
            format!(
                "kesconf: invalid keystore config: unknown keystore '{name}' (known: fs, vault, \
                 fortanix, aws, gemalto, gcp, azure, entrust)"
            ),
        ));
    }
    if stores.kes {
        cx.warn(
            format!("{base}.kes"),
            "ignored: the KES-to-KES keystore is parsed but not supported (as in KES)",
        );
    }
    let stores = if legacy {
        select_legacy(cx, stores, base)?
    } else {
        stores
    };
    if stores.generic.is_some() {
        return Err(Error::invalid(
            format!("{base}.generic"),
            "kesconf: invalid keystore config: the generic (KES plugin) keystore was removed from \
             KES and is not supported",
        ));
    }

    let mut found: Option<KeyStoreConfig> = None;
    let take = |found: &mut Option<KeyStoreConfig>, section: &str| -> Result<(), Error> {
        if found.is_some() {
            return Err(Error::invalid(
                format!("{base}.{section}"),
                "kesconf: invalid keystore config: more than once keystore specified",
            ));
        }
        Ok(())
    };

    if let Some(fs) = &stores.fs {
        let b = format!("{base}.fs");
        let path = cx.string(&fs.path, &format!("{b}.path"))?;
        if path.is_empty() {
            return Err(Error::invalid(
                format!("{b}.path"),
                "kesconf: invalid fs keystore: no path specified",
            ));
        }
        let seal = match &fs.seal {
            None => None,
            Some(seal) => Some(seal_source(cx, seal, &format!("{b}.seal"))?),
        };
        found = Some(KeyStoreConfig::Fs(FsKeyStore {
            path: PathBuf::from(path),
            seal,
        }));
    }

    if let Some(v) = &stores.vault {
        take(&mut found, "vault")?;
        found = Some(KeyStoreConfig::Vault(vault(
            cx,
            v,
            &format!("{base}.vault"),
            legacy,
        )?));
    }

    if let Some(sdkms) = stores.fortanix.as_ref().and_then(|f| f.sdkms.as_ref()) {
        take(&mut found, "fortanix")?;
        let b = format!("{base}.fortanix.sdkms");
        let endpoint = cx.string(&sdkms.endpoint, &format!("{b}.endpoint"))?;
        if endpoint.is_empty() {
            return Err(Error::invalid(
                format!("{b}.endpoint"),
                "kesconf: invalid fortanix SDKMS keystore: no endpoint specified",
            ));
        }
        let key = sdkms.credentials.as_ref().and_then(|c| c.key.clone());
        let api_key = cx.string(&key, &format!("{b}.credentials.key"))?;
        if api_key.is_empty() {
            return Err(Error::invalid(
                format!("{b}.credentials.key"),
                "kesconf: invalid fortanix SDKMS keystore: no API key specified",
            ));
        }
        let ca = sdkms.tls.as_ref().and_then(|t| t.ca.clone());
        found = Some(KeyStoreConfig::Fortanix(FortanixKeyStore {
            endpoint,
            group_id: cx.string(&sdkms.group_id, &format!("{b}.group_id"))?,
            api_key: SecretText::new(api_key),
            ca: cx.path(&ca, &format!("{b}.tls.ca"))?,
        }));
    }

    if let Some(ks) = stores.gemalto.as_ref().and_then(|g| g.keysecure.as_ref()) {
        take(&mut found, "gemalto")?;
        let b = format!("{base}.gemalto.keysecure");
        let endpoint = cx.string(&ks.endpoint, &format!("{b}.endpoint"))?;
        if endpoint.is_empty() {
            return Err(Error::invalid(
                format!("{b}.endpoint"),
                "kesconf: invalid gemalto keysecure keystore: no endpoint specified",
            ));
        }
        let creds = ks.credentials.as_ref();
        let token = cx.string(
            &creds.and_then(|c| c.token.clone()),
            &format!("{b}.credentials.token"),
        )?;
        if token.is_empty() {
            return Err(Error::invalid(
                format!("{b}.credentials.token"),
                "kesconf: invalid gemalto keysecure keystore: no token specified",
            ));
        }
        if creds.is_some_and(|c| c.retry.is_some()) {
            cx.warn(
                format!("{b}.credentials.retry"),
                "legacy field; ignored (as in KES)",
            );
        }
        let ca = ks.tls.as_ref().and_then(|t| t.ca.clone());
        found = Some(KeyStoreConfig::Gemalto(GemaltoKeyStore {
            endpoint,
            token: SecretText::new(token),
            domain: cx.string(
                &creds.and_then(|c| c.domain.clone()),
                &format!("{b}.credentials.domain"),
            )?,
            ca: cx.path(&ca, &format!("{b}.tls.ca"))?,
        }));
    }

    if let Some(sm) = stores.gcp.as_ref().and_then(|g| g.secretmanager.as_ref()) {
        take(&mut found, "gcp")?;
        let b = format!("{base}.gcp.secretmanager");
        let project_id = cx.string(&sm.project_id, &format!("{b}.project_id"))?;
        if project_id.is_empty() {
            return Err(Error::invalid(
                format!("{b}.project_id"),
                "kesconf: invalid GCP secretmanager keystore: no project ID specified",
            ));
        }
        let c = sm.credentials.as_ref();
        let cf = |name: &str| format!("{b}.credentials.{name}");
        let credentials = GcpCredentials {
            client_email: cx
                .string(&c.and_then(|c| c.client_email.clone()), &cf("client_email"))?,
            client_id: cx.string(&c.and_then(|c| c.client_id.clone()), &cf("client_id"))?,
            private_key_id: cx.string(
                &c.and_then(|c| c.private_key_id.clone()),
                &cf("private_key_id"),
            )?,
            private_key: SecretText::new(
                cx.string(&c.and_then(|c| c.private_key.clone()), &cf("private_key"))?,
            ),
        };
        let scopes = cx.list(&sm.scopes, &format!("{b}.scopes"))?;
        found = Some(KeyStoreConfig::Gcp(GcpKeyStore {
            project_id,
            endpoint: cx.string(&sm.endpoint, &format!("{b}.endpoint"))?,
            scopes: scopes.into_iter().filter(|s| !s.is_empty()).collect(),
            credentials,
        }));
    }

    if let Some(sm) = stores.aws.as_ref().and_then(|a| a.secretsmanager.as_ref()) {
        take(&mut found, "aws")?;
        let b = format!("{base}.aws.secretsmanager");
        let endpoint = cx.string(&sm.endpoint, &format!("{b}.endpoint"))?;
        if endpoint.is_empty() {
            return Err(Error::invalid(
                format!("{b}.endpoint"),
                "kesconf: invalid AWS secretsmanager keystore: no endpoint specified",
            ));
        }
        let region = cx.string(&sm.region, &format!("{b}.region"))?;
        if region.is_empty() {
            return Err(Error::invalid(
                format!("{b}.region"),
                "kesconf: invalid AWS secretsmanager keystore: no region specified",
            ));
        }
        let c = sm.credentials.as_ref();
        let cf = |name: &str| format!("{b}.credentials.{name}");
        found = Some(KeyStoreConfig::Aws(AwsKeyStore {
            endpoint,
            region,
            kms_key: cx.string(&sm.kmskey, &format!("{b}.kmskey"))?,
            access_key: cx.string(&c.and_then(|c| c.accesskey.clone()), &cf("accesskey"))?,
            secret_key: SecretText::new(
                cx.string(&c.and_then(|c| c.secretkey.clone()), &cf("secretkey"))?,
            ),
            session_token: SecretText::new(
                cx.string(&c.and_then(|c| c.token.clone()), &cf("token"))?,
            ),
        }));
    }

    if let Some(kv) = stores.azure.as_ref().and_then(|a| a.keyvault.as_ref()) {
        take(&mut found, "azure")?;
        let b = format!("{base}.azure.keyvault");
        let endpoint = cx.string(&kv.endpoint, &format!("{b}.endpoint"))?;
        if endpoint.is_empty() {
            return Err(Error::invalid(
                format!("{b}.endpoint"),
                "kesconf: invalid Azure keyvault keystore: no endpoint specified",
            ));
        }
        let auth = match (&kv.credentials, &kv.managed_identity) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    b,
                    "kesconf: invalid Azure keyvault keystore: more than one authentication \
                     method specified",
                ));
            }
            (Some(c), None) => {
                let required = |cx: &Cx<'_>, v: &Option<Str>, name: &str, what: &str| {
                    let field = format!("{b}.credentials.{name}");
                    let value = cx.string(v, &field)?;
                    if value.is_empty() {
                        return Err(Error::invalid(
                            field,
                            format!(
                                "kesconf: invalid Azure keyvault keystore: no {what} specified"
                            ),
                        ));
                    }
                    Ok(value)
                };
                AzureAuth::ClientSecret {
                    tenant_id: required(cx, &c.tenant_id, "tenant_id", "tenant ID")?,
                    client_id: required(cx, &c.client_id, "client_id", "client ID")?,
                    client_secret: SecretText::new(required(
                        cx,
                        &c.client_secret,
                        "client_secret",
                        "client secret",
                    )?),
                }
            }
            (None, Some(m)) => {
                let field = format!("{b}.managed_identity.client_id");
                let client_id = cx.string(&m.client_id, &field)?;
                if client_id.is_empty() {
                    return Err(Error::invalid(
                        field,
                        "kesconf: invalid Azure keyvault keystore: no client ID specified",
                    ));
                }
                AzureAuth::ManagedIdentity { client_id }
            }
            (None, None) => AzureAuth::Default,
        };
        found = Some(KeyStoreConfig::Azure(AzureKeyStore { endpoint, auth }));
    }

    if let Some(kc) = stores.entrust.as_ref().and_then(|e| e.keycontrol.as_ref()) {
        take(&mut found, "entrust")?;
        let b = format!("{base}.entrust.keycontrol");
        let required = |cx: &Cx<'_>, v: &Option<Str>, name: &str, what: &str| {
            let field = format!("{b}.{name}");
            let value = cx.string(v, &field)?;
            if value.is_empty() {
                return Err(Error::invalid(
                    field,
                    format!("kesconf: invalid Entrust KeyControl keystore: no {what} specified"),
                ));
            }
            Ok(value)
        };
        let creds = kc.credentials.as_ref();
        let username = creds.and_then(|c| c.username.clone());
        let password = creds.and_then(|c| c.password.clone());
        let ca = kc.tls.as_ref().and_then(|t| t.ca.clone());
        found = Some(KeyStoreConfig::Entrust(EntrustKeyStore {
            endpoint: required(cx, &kc.endpoint, "endpoint", "endpoint")?,
            vault_id: required(cx, &kc.vault_id, "vault_id", "vault ID")?,
            box_id: required(cx, &kc.box_id, "box_id", "box ID")?,
            username: required(cx, &username, "credentials.username", "username")?,
            password: SecretText::new(required(cx, &password, "credentials.password", "password")?),
            ca: cx.path(&ca, &format!("{b}.tls.ca"))?,
        }));
    }

    found.ok_or_else(|| {
        let message = if stores.kes {
            "kesconf: no keystore specified (keystore.kes is not supported)"
        } else {
            "kesconf: no keystore specified"
        };
        Error::invalid(base, message)
    })
}

/// KES v0.18 (the last version that read the legacy layouts) used the first
/// backend, in the order fs, generic, vault, fortanix, aws, gcp, azure,
/// gemalto, whose main field (path, endpoint or project ID) is set, ignored
/// the others (templates list every backend with empty values), and fell back
/// to an in-memory store. We keep the selection, warn about ignored
/// configured backends, and refuse the in-memory fallback.
fn select_legacy(
    cx: &mut Cx<'_>,
    mut stores: RawKeyStores,
    base: &str,
) -> Result<RawKeyStores, Error> {
    let main = |cx: &Cx<'_>, v: Option<&Option<Str>>, field: String| -> Result<bool, Error> {
        match v {
            Some(v) => Ok(!cx.string(v, &field)?.is_empty()),
            None => Ok(false),
        }
    };
    let candidates = [
        (
            "fs",
            main(
                cx,
                stores.fs.as_ref().map(|s| &s.path),
                format!("{base}.fs.path"),
            )?,
        ),
        (
            "generic",
            main(
                cx,
                stores.generic.as_ref().map(|s| &s.endpoint),
                format!("{base}.generic.endpoint"),
            )?,
        ),
        (
            "vault",
            main(
                cx,
                stores.vault.as_ref().map(|s| &s.endpoint),
                format!("{base}.vault.endpoint"),
            )?,
        ),
        (
            "fortanix",
            main(
                cx,
                stores
                    .fortanix
                    .as_ref()
                    .and_then(|s| s.sdkms.as_ref())
                    .map(|s| &s.endpoint),
                format!("{base}.fortanix.sdkms.endpoint"),
            )?,
        ),
        (
            "aws",
            main(
                cx,
                stores
                    .aws
                    .as_ref()
                    .and_then(|s| s.secretsmanager.as_ref())
                    .map(|s| &s.endpoint),
                format!("{base}.aws.secretsmanager.endpoint"),
            )?,
        ),
        (
            "gcp",
            main(
                cx,
                stores
                    .gcp
                    .as_ref()
                    .and_then(|s| s.secretmanager.as_ref())
                    .map(|s| &s.project_id),
                format!("{base}.gcp.secretmanager.project_id"),
            )?,
        ),
        (
            "azure",
            main(
                cx,
                stores
                    .azure
                    .as_ref()
                    .and_then(|s| s.keyvault.as_ref())
                    .map(|s| &s.endpoint),
                format!("{base}.azure.keyvault.endpoint"),
            )?,
        ),
        (
            "gemalto",
            main(
                cx,
                stores
                    .gemalto
                    .as_ref()
                    .and_then(|s| s.keysecure.as_ref())
                    .map(|s| &s.endpoint),
                format!("{base}.gemalto.keysecure.endpoint"),
            )?,
        ),
        (
            "entrust",
            main(
                cx,
                stores
                    .entrust
                    .as_ref()
                    .and_then(|s| s.keycontrol.as_ref())
                    .map(|s| &s.endpoint),
                format!("{base}.entrust.keycontrol.endpoint"),
            )?,
        ),
    ];
    let mut chosen = None;
    for (name, configured) in candidates {
        if !configured {
            continue;
        }
        match chosen {
            None => chosen = Some(name),
            Some(first) => cx.warn(
                format!("{base}.{name}"),
                format!("ignored: KES v0.18 used only the first configured keystore ('{first}')"),
            ),
        }
    }
    let mut out = RawKeyStores::default();
    match chosen {
        Some("fs") => out.fs = stores.fs.take(),
        Some("generic") => out.generic = stores.generic.take(),
        Some("vault") => out.vault = stores.vault.take(),
        Some("fortanix") => out.fortanix = stores.fortanix.take(),
        Some("aws") => out.aws = stores.aws.take(),
        Some("gcp") => out.gcp = stores.gcp.take(),
        Some("azure") => out.azure = stores.azure.take(),
        Some("gemalto") => out.gemalto = stores.gemalto.take(),
        Some(_) => out.entrust = stores.entrust.take(),
        None => {
            return Err(Error::invalid(
                base,
                "kesconf: no keystore specified (KES v0.18 fell back to an in-memory store for \
                 this legacy file; configure a keystore)",
            ));
        }
    }
    Ok(out)
}

/// `keystore.fs.seal`: exactly one of `key_file` and `key`.
fn seal_source(cx: &mut Cx<'_>, seal: &raw::RawSeal, b: &str) -> Result<SealKeySource, Error> {
    let file = cx.path(&seal.key_file, &format!("{b}.key_file"))?;
    let key = cx.expanded(&seal.key, &format!("{b}.key"))?;
    match (file, key.value.is_empty()) {
        (Some(_), false) => Err(Error::invalid(
            b,
            "kesconf: invalid fs keystore: seal: specify either key_file or key, not both",
        )),
        (Some(file), true) => Ok(SealKeySource::File(file)),
        (None, false) => {
            let parsed = kes_keystore::parse_seal_key(&key.value).map_err(|_| {
                Error::invalid(
                    format!("{b}.key"),
                    "kesconf: invalid fs keystore: invalid seal key: expected 32 bytes as 64 hex \
                     digits or standard base64",
                )
            })?;
            if !key.from_env {
                cx.warn(
                    format!("{b}.key"),
                    "the master key is written in the config file; prefer key: ${ENV_VAR} or \
                     key_file",
                );
            }
            Ok(SealKeySource::Key(SealKey::new(parsed)))
        }
        (None, true) => Err(Error::invalid(
            b,
            "kesconf: invalid fs keystore: seal: no master key specified (key_file or key)",
        )),
    }
}

/// `keystore.vault` with KES's defaults and checks.
fn vault(
    cx: &mut Cx<'_>,
    v: &raw::RawVault,
    b: &str,
    legacy: bool,
) -> Result<VaultKeyStore, Error> {
    let f = |name: &str| format!("{b}.{name}");
    let endpoint = cx.string(&v.endpoint, &f("endpoint"))?;
    if endpoint.is_empty() {
        return Err(Error::invalid(
            f("endpoint"),
            "kesconf: invalid vault keystore: no endpoint specified",
        ));
    }
    let or = |s: String, default: &str| if s.is_empty() { default.to_owned() } else { s };

    let version = match cx.string(&v.version, &f("version"))?.as_str() {
        "" | "v1" => VaultKvVersion::V1,
        "v2" => VaultKvVersion::V2,
        other => {
            return Err(Error::invalid(
                f("version"),
                format!(
                    "kesconf: invalid vault keystore: invalid K/V engine version '{other}' (v1 or v2)"
                ),
            ));
        }
    };

    let mut approle = v.approle.as_ref();
    let mut kubernetes = v.kubernetes.as_ref();
    if approle.is_some_and(|a| a.retry.is_some()) {
        cx.warn(f("approle.retry"), "legacy field; ignored (as in KES)");
    }
    if kubernetes.is_some_and(|k| k.retry.is_some()) {
        cx.warn(f("kubernetes.retry"), "legacy field; ignored (as in KES)");
    }
    if legacy {
        let blank = |s: &Option<Str>| s.as_ref().is_none_or(|Str(s)| s.is_empty());
        if approle.is_some_and(|a| {
            blank(&a.engine) && blank(&a.namespace) && blank(&a.id) && blank(&a.secret)
        }) {
            cx.warn(
                f("approle"),
                "empty block of a legacy layout; ignored (as KES v0.18 did)",
            );
            approle = None;
        }
        if kubernetes.is_some_and(|k| {
            blank(&k.engine) && blank(&k.namespace) && blank(&k.role) && blank(&k.jwt)
        }) {
            cx.warn(
                f("kubernetes"),
                "empty block of a legacy layout; ignored (as KES v0.18 did)",
            );
            kubernetes = None;
        }
    }
    let auth = match (approle, kubernetes) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                b,
                "kesconf: invalid vault keystore: more than one authentication method specified",
            ));
        }
        (None, None) if legacy => {
            cx.warn(
                b,
                "no authentication method (approle or kubernetes) specified; KES v0.18 accepted \
                 this, the Vault keystore will fail to log in",
            );
            None
        }
        (None, None) => {
            return Err(Error::invalid(
                b,
                "kesconf: invalid vault keystore: no authentication method specified",
            ));
        }
        (Some(a), None) => {
            let id = cx.string(&a.id, &f("approle.id"))?;
            if id.is_empty() {
                return Err(Error::invalid(
                    f("approle.id"),
                    "kesconf: invalid vault keystore: invalid approle config: no approle ID specified",
                ));
            }
            let secret = cx.string(&a.secret, &f("approle.secret"))?;
            if secret.is_empty() {
                return Err(Error::invalid(
                    f("approle.secret"),
                    "kesconf: invalid vault keystore: invalid approle config: no approle secret \
                     specified",
                ));
            }
            Some(VaultAuth::AppRole(VaultAppRole {
                engine: or(
                    cx.string(&a.engine, &f("approle.engine"))?,
                    VaultKeyStore::DEFAULT_APPROLE_ENGINE,
                ),
                namespace: cx.string(&a.namespace, &f("approle.namespace"))?,
                id,
                secret: SecretText::new(secret),
            }))
        }
        (None, Some(k)) => {
            let jwt = cx.string(&k.jwt, &f("kubernetes.jwt"))?;
            if jwt.is_empty() {
                return Err(Error::invalid(
                    f("kubernetes.jwt"),
                    "kesconf: invalid vault keystore: invalid kubernetes config: no JWT specified",
                ));
            }
            let jwt = if jwt.contains('/') || jwt.contains(std::path::MAIN_SEPARATOR) {
                VaultJwt::File(PathBuf::from(jwt))
            } else {
                VaultJwt::Token(SecretText::new(jwt))
            };
            Some(VaultAuth::Kubernetes(VaultKubernetes {
                engine: or(
                    cx.string(&k.engine, &f("kubernetes.engine"))?,
                    VaultKeyStore::DEFAULT_KUBERNETES_ENGINE,
                ),
                namespace: cx.string(&k.namespace, &f("kubernetes.namespace"))?,
                role: cx.string(&k.role, &f("kubernetes.role"))?,
                jwt,
            }))
        }
    };

    let transit = match &v.transit {
        None => None,
        Some(t) => {
            let key = cx.string(&t.key, &f("transit.key"))?;
            if key.is_empty() {
                return Err(Error::invalid(
                    f("transit.key"),
                    "kesconf: invalid vault keystore: invalid transit config: no key name specified",
                ));
            }
            Some(VaultTransit {
                engine: or(
                    cx.string(&t.engine, &f("transit.engine"))?,
                    VaultKeyStore::DEFAULT_TRANSIT_ENGINE,
                ),
                key,
            })
        }
    };

    let tls_raw = v.tls.as_ref();
    let tls = VaultTls {
        key: cx.path(&tls_raw.and_then(|t| t.key.clone()), &f("tls.key"))?,
        cert: cx.path(&tls_raw.and_then(|t| t.cert.clone()), &f("tls.cert"))?,
        ca: cx.path(&tls_raw.and_then(|t| t.ca.clone()), &f("tls.ca"))?,
    };
    match (&tls.key, &tls.cert) {
        (Some(_), None) => {
            return Err(Error::invalid(
                f("tls.cert"),
                "kesconf: invalid vault keystore: invalid tls config: no TLS certificate provided",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                f("tls.key"),
                "kesconf: invalid vault keystore: invalid tls config: no TLS private key provided",
            ));
        }
        _ => {}
    }

    let ping = cx.duration(
        &v.status.as_ref().and_then(|s| s.ping.clone()),
        &f("status.ping"),
    )?;
    if ping < 0 {
        return Err(Error::invalid(
            f("status.ping"),
            format!(
                "kesconf: invalid vault keystore: invalid status ping '{}'",
                goduration::format(ping)
            ),
        ));
    }

    Ok(VaultKeyStore {
        endpoint,
        engine: or(
            cx.string(&v.engine, &f("engine"))?,
            VaultKeyStore::DEFAULT_ENGINE,
        ),
        version,
        namespace: cx.string(&v.namespace, &f("namespace"))?,
        prefix: cx.string(&v.prefix, &f("prefix"))?,
        transit,
        auth,
        tls,
        status_ping: if ping == 0 {
            VaultKeyStore::DEFAULT_STATUS_PING
        } else {
            nanos(ping)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_like_kes() {
        let ok = [
            ("", 0),
            ("on", 0),
            ("ON", 0),
            (" off ", 9),
            ("debug", -4),
            ("INFO", 0),
            ("Warn", 4),
            ("error", 8),
            ("INFO+2", 2),
            ("error+1", 9),
            ("INFO +2", 2),
            ("DEBUG+-2", -6),
            ("12", 12),
            ("-4", -4),
        ];
        for (text, want) in ok {
            assert_eq!(parse_log_level(text), Ok(Level(want)), "{text}");
        }
        let bad = [
            ("foo", "strconv.Atoi: parsing \"FOO\": invalid syntax"),
            ("INFOX", "kesconf: invalid log level 'INFOX'"),
            ("INFO-2", "kesconf: invalid log level 'INFO-2'"),
            (
                "INFO+x",
                "kesconf: invalid log level suffix 'X': strconv.Atoi: parsing \"X\": invalid syntax",
            ),
            (
                "INFO+",
                "kesconf: invalid log level suffix '': strconv.Atoi: parsing \"\": invalid syntax",
            ),
            (
                "99999999999",
                "strconv.Atoi: parsing \"99999999999\": value out of range",
            ),
        ];
        for (text, want) in bad {
            assert_eq!(parse_log_level(text), Err(want.to_owned()), "{text}");
        }
    }

    #[test]
    fn addresses() {
        let ok = [
            ("0.0.0.0:7373", Some("0.0.0.0"), 7373),
            ("127.0.0.1:1", Some("127.0.0.1"), 1),
            (":7373", None, 7373),
            ("[::1]:7373", Some("::1"), 7373),
            ("[::]:0", Some("::"), 0),
        ];
        for (text, ip, port) in ok {
            let a = parse_address(text).unwrap();
            assert_eq!(a.ip, ip.map(|ip| ip.parse().unwrap()), "{text}");
            assert_eq!(a.port, port);
            assert_eq!(a.to_string(), text);
        }
        for bad in [
            "localhost:7373",
            "0.0.0.0",
            "0.0.0.0:",
            "0.0.0.0:http",
            "0.0.0.0:65536",
            "::1:7373",
            "[::1]7373",
            "[::1",
            "1.2.3.4:-1",
            "example.com:443",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
