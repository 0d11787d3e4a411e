//! `--config FILE`: the settings of `blueshift up`, `leader` and `compute` from a TOML
//! file. Every key is a flag's long name (`snapshot-store = "s3://b/p"`,
//! `query-memory-mb = 8192`, `s3-path-style = true`); a table prefixes its keys with
//! its name and a hyphen (`[snapshot]` `store = ...` is `snapshot-store`); `[[wlm]]`
//! tables are the queues of the WLM configuration, with its JSON property names
//! (`--wlm-json-configuration`). A flag on
//! the command line wins over the environment variable, which wins over the file.

use std::ffi::OsString;

use anyhow::{Context, Result, anyhow, bail};
use toml_edit::{DocumentMut, Item, Table, Value};

/// `args` with the settings of the file `--config` names added as flags (and
/// `--config` removed); `args` unchanged without `--config`.
pub fn apply(args: Vec<OsString>, command: &clap::Command) -> Result<Vec<OsString>> {
    let mut path = None;
    let mut rest: Vec<OsString> = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.to_str() {
            Some("--config") => {
                path = Some(iter.next().context("--config needs a file")?);
            }
            Some(a) if a.starts_with("--config=") => {
                path = Some(OsString::from(&a["--config=".len()..]));
            }
            _ => rest.push(arg),
        }
    }
    let Some(path) = path else {
        return Ok(rest);
    };
    let shown = path.to_string_lossy().into_owned();
    let at = rest
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|i| i + 1)
        .context("--config goes with a command: blueshift up --config FILE")?;
    let name = rest[at].to_string_lossy().into_owned();
    let sub = command
        .find_subcommand(&name)
        .filter(|_| matches!(name.as_str(), "up" | "leader" | "compute"))
        .ok_or_else(|| anyhow!("--config goes with up, leader or compute, not {name}"))?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {shown}"))?;
    let doc: DocumentMut = text.parse().map_err(|e| anyhow!("{shown}: {e}"))?;
    let mut settings = Vec::new();
    flatten(doc.as_table(), "", &shown, &mut settings)?;
    let mut added: Vec<OsString> = Vec::new();
    for (key, value) in settings {
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .ok_or_else(|| anyhow!("{shown}: `{key}` is not a setting of blueshift {name}"))?;
        let flag = format!("--{key}");
        let on_command_line = rest.iter().any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        });
        let in_environment = arg.get_env().is_some_and(|e| std::env::var_os(e).is_some());
        if on_command_line || in_environment {
            continue;
        }
        if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            match value.as_str() {
                "true" => added.push(flag.into()),
                "false" => {}
                other => bail!("{shown}: `{key}` is true or false, not {other}"),
            }
        } else {
            added.push(flag.into());
            added.push(value.into());
        }
    }
    rest.splice(at + 1..at + 1, added);
    Ok(rest)
}

/// The settings of `table`, keys prefixed with `prefix`.
fn flatten(table: &Table, prefix: &str, file: &str, out: &mut Vec<(String, String)>) -> Result<()> {
    for (key, item) in table.iter() {
        let key = format!("{prefix}{key}");
        match item {
            // `[[wlm]]` tables: the WLM configuration's queues, as JSON.
            Item::ArrayOfTables(queues) if key == "wlm" => {
                let json: Vec<serde_json::Value> = queues
                    .iter()
                    .map(|t| table_json(t, file))
                    .collect::<Result<_>>()?;
                out.push((
                    "wlm-json-configuration".into(),
                    serde_json::Value::Array(json).to_string(),
                ));
            }
            Item::Table(t) => flatten(t, &format!("{key}-"), file, out)?,
            Item::Value(Value::InlineTable(t)) => {
                flatten(&t.clone().into_table(), &format!("{key}-"), file, out)?
            }
            Item::Value(Value::String(s)) => out.push((key, s.value().clone())),
            Item::Value(Value::Integer(i)) => out.push((key, i.value().to_string())),
            Item::Value(Value::Float(f)) => out.push((key, f.value().to_string())),
            Item::Value(Value::Boolean(b)) => out.push((key, b.value().to_string())),
            Item::Value(Value::Array(a)) => {
                // A list flag (`compute = ["h1:7000", "h2:7000"]`).
                let values: Vec<String> = a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.value().clone()),
                        Value::Integer(i) => Ok(i.value().to_string()),
                        _ => Err(anyhow!("{file}: `{key}` lists only strings and numbers")),
                    })
                    .collect::<Result<_>>()?;
                out.push((key, values.join(",")));
            }
            _ => bail!("{file}: `{key}` is not a string, number, true or false"),
        }
    }
    Ok(())
}

/// A TOML table as the JSON object of the same keys and values.
fn table_json(table: &Table, file: &str) -> Result<serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (key, item) in table.iter() {
        let value = match item {
            Item::Value(v) => value_json(v, file)?,
            Item::Table(t) => table_json(t, file)?,
            Item::ArrayOfTables(a) => serde_json::Value::Array(
                a.iter()
                    .map(|t| table_json(t, file))
                    .collect::<Result<_>>()?,
            ),
            Item::None => continue,
        };
        map.insert(key.to_string(), value);
    }
    Ok(serde_json::Value::Object(map))
}

fn value_json(value: &Value, file: &str) -> Result<serde_json::Value> {
    Ok(match value {
        Value::String(s) => serde_json::Value::from(s.value().clone()),
        Value::Integer(i) => serde_json::Value::from(*i.value()),
        Value::Float(f) => serde_json::Value::from(*f.value()),
        Value::Boolean(b) => serde_json::Value::from(*b.value()),
        Value::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|v| value_json(v, file))
                .collect::<Result<_>>()?,
        ),
        Value::InlineTable(t) => table_json(&t.clone().into_table(), file)?,
        Value::Datetime(_) => {
            bail!("{file}: a date in [[wlm]]: WLM settings are numbers, strings and lists")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn command() -> Command {
        Command::new("blueshift").subcommand(
            Command::new("up")
                .arg(Arg::new("port").long("port"))
                .arg(Arg::new("data-dir").long("data-dir"))
                .arg(Arg::new("snapshot-store").long("snapshot-store"))
                .arg(Arg::new("wlm-json-configuration").long("wlm-json-configuration"))
                .arg(
                    Arg::new("s3-path-style")
                        .long("s3-path-style")
                        .action(ArgAction::SetTrue),
                )
                .arg(
                    Arg::new("admin-port")
                        .long("admin-port")
                        .env("BLUESHIFT_TEST_CONFIG_ADMIN_PORT_SET"),
                ),
        )
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn config_settings_become_flags_the_command_line_overrides() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("blueshift.toml");
        std::fs::write(
            &file,
            "port = 6000\ndata-dir = \"/srv/bs\"\ns3-path-style = true\n\
             [snapshot]\nstore = \"s3://b/p\"\n",
        )?;
        let file = file.display().to_string();
        let got = apply(
            args(&["blueshift", "up", "--config", &file, "--port", "7000"]),
            &command(),
        )?;
        assert_eq!(
            got,
            args(&[
                "blueshift",
                "up",
                "--data-dir",
                "/srv/bs",
                "--s3-path-style",
                "--snapshot-store",
                "s3://b/p",
                "--port",
                "7000"
            ])
        );
        std::fs::write(file.replace("blueshift.toml", "bad.toml"), "nodes = 3\n")?;
        let bad = apply(
            args(&[
                "blueshift",
                "up",
                "--config",
                &file.replace("blueshift.toml", "bad.toml"),
            ]),
            &command(),
        );
        assert!(bad.is_err_and(|e| {
            e.to_string()
                .contains("`nodes` is not a setting of blueshift up")
        }));
        assert_eq!(
            apply(args(&["blueshift", "up"]), &command())?,
            args(&["blueshift", "up"])
        );
        // `[[wlm]]` tables are the WLM configuration's JSON array.
        let wlm = file.replace("blueshift.toml", "wlm.toml");
        std::fs::write(
            &wlm,
            "[[wlm]]\nname = \"etl\"\nquery_concurrency = 2\nuser_group = [\"etl\"]\n\
             [[wlm.rules]]\nrule_name = \"r\"\naction = \"log\"\n\
             predicate = [{ metric_name = \"return_row_count\", operator = \">\", value = 5 }]\n\
             [[wlm]]\nquery_concurrency = 3\n",
        )?;
        let got = apply(args(&["blueshift", "up", "--config", &wlm]), &command())?;
        let json = got
            .last()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(&json)?;
        assert_eq!(
            parsed,
            serde_json::json!([
                {"name": "etl", "query_concurrency": 2, "user_group": ["etl"],
                 "rules": [{"rule_name": "r", "action": "log",
                            "predicate": [{"metric_name": "return_row_count", "operator": ">", "value": 5}]}]},
                {"query_concurrency": 3}
            ])
        );
        Ok(())
    }
}
