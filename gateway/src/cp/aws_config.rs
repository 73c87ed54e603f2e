//! Endpoint, region and credentials for `fastgate cp`, found where the aws cli finds them:
//! flags, then `AWS_*` variables, then the shared `credentials` and `config` files
//! (parsed with rust-ini, whose INI dialect is the one those files are written in).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ini::Ini;

/// What `cp` talks to and signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// The flags that take precedence over the environment and the files.
#[derive(Debug, Default)]
pub struct Flags<'a> {
    pub endpoint_url: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// Resolves flags, the variables `env` returns, and the shared files. `env` is a
/// parameter so that tests need not change the process environment.
pub fn resolve(flags: &Flags<'_>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Resolved> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let home = var("HOME").map(PathBuf::from);
    let in_home = |file: &str| home.as_ref().map(|h| h.join(".aws").join(file));
    let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| in_home("credentials"));
    let config_file = var("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| in_home("config"));
    let credentials = load(credentials_file.as_deref())?;
    let config = load(config_file.as_deref())?;

    let profile = flags
        .profile
        .map(str::to_owned)
        .or_else(|| var("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_owned());
    // The credentials file names a profile plainly; the config file writes
    // `[profile NAME]` for all but the default one.
    let config_section = if profile == "default" {
        "default".to_owned()
    } else {
        format!("profile {profile}")
    };
    let from_credentials = |k: &str| {
        credentials
            .as_ref()
            .and_then(|i| i.section(Some(profile.as_str())))
            .and_then(|s| s.get(k))
            .map(str::to_owned)
    };
    let from_config = |k: &str| {
        config
            .as_ref()
            .and_then(|i| i.section(Some(config_section.as_str())))
            .and_then(|s| s.get(k))
            .map(str::to_owned)
    };
    let from_files = |k: &str| from_credentials(k).or_else(|| from_config(k));

    // As the aws cli: keys in the environment win unless a profile was asked for by flag.
    let env_keys = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(ak), Some(sk)) if flags.profile.is_none() => Some((ak, sk, var("AWS_SESSION_TOKEN"))),
        _ => None,
    };
    let (access_key, secret_key, session_token) = match env_keys {
        Some(k) => k,
        None => match (from_files("aws_access_key_id"), from_files("aws_secret_access_key")) {
            (Some(ak), Some(sk)) => (ak, sk, from_files("aws_session_token")),
            _ => bail!(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile {profile:?} \
                 aws_access_key_id and aws_secret_access_key in {}",
                shown(credentials_file.as_deref())
            ),
        },
    };
    let region = flags
        .region
        .map(str::to_owned)
        .or_else(|| var("AWS_REGION"))
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| from_config("region"))
        .unwrap_or_else(|| fastgate_client::DEFAULT_REGION.to_owned());
    let Some(endpoint) = flags
        .endpoint_url
        .map(str::to_owned)
        .or_else(|| var("AWS_ENDPOINT_URL_S3"))
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .or_else(|| from_config("endpoint_url"))
    else {
        bail!(
            "no endpoint: give --endpoint-url, AWS_ENDPOINT_URL(_S3), or endpoint_url in profile {profile:?} of {}",
            shown(config_file.as_deref())
        );
    };
    Ok(Resolved {
        endpoint,
        region,
        access_key,
        secret_key,
        session_token,
    })
}

fn shown(p: Option<&Path>) -> String {
    p.map_or_else(|| "(no HOME)".to_owned(), |p| p.display().to_string())
}

/// A file that does not exist is no error: most machines have neither.
fn load(path: Option<&Path>) -> anyhow::Result<Option<Ini>> {
    let Some(path) = path else { return Ok(None) };
    if !path.exists() {
        return Ok(None);
    }
    Ini::load_from_file(path)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn a_named_profile_takes_keys_from_credentials_and_region_and_endpoint_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[work]\naws_access_key_id = W\naws_secret_access_key = WS\naws_session_token = T\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n\n[profile work]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:9\n",
        )
        .unwrap();
        let env = env_of(&[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_PROFILE", "work".into()),
        ]);
        let r = resolve(&Flags::default(), &env).unwrap();
        assert_eq!(
            r,
            Resolved {
                endpoint: "http://127.0.0.1:9".into(),
                region: "eu-central-1".into(),
                access_key: "W".into(),
                secret_key: "WS".into(),
                session_token: Some("T".into()),
            }
        );
    }

    #[test]
    fn flags_win_over_variables_and_variables_over_files() {
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "EK".into()),
            ("AWS_SECRET_ACCESS_KEY", "ES".into()),
            ("AWS_ENDPOINT_URL", "http://generic:1".into()),
            ("AWS_ENDPOINT_URL_S3", "http://s3:1".into()),
            ("AWS_DEFAULT_REGION", "r1".into()),
        ]);
        let r = resolve(&Flags::default(), &env).unwrap();
        assert_eq!((r.endpoint.as_str(), r.region.as_str()), ("http://s3:1", "r1"));
        assert_eq!((r.access_key.as_str(), r.session_token), ("EK", None));
        let flags = Flags {
            endpoint_url: Some("http://flag:1"),
            region: Some("r2"),
            profile: None,
        };
        let r = resolve(&flags, &env).unwrap();
        assert_eq!((r.endpoint.as_str(), r.region.as_str()), ("http://flag:1", "r2"));
    }

    #[test]
    fn missing_credentials_are_an_error_that_says_where_it_looked() {
        let err = resolve(&Flags::default(), &env_of(&[("HOME", "/nonexistent".into())])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/.aws/credentials"), "{err}");
    }
}
