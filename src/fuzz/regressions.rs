//! Failing cases kept as scenario files, like proptest's regression files:
//! the next `fuzz` (or a CI `run --scenario DIR`) re-checks them first.
//!
//! Files are never overwritten: a minimal case that is already on disk
//! (same content) is reused, a different one gets a fresh name.

use crate::scenario::{self, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// Errors reading or writing the regression directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegressionError {
    /// A file or directory could not be read or written.
    #[error(
        "{path}: {source}; check that the directory is writable (or pass another --regressions DIR)"
    )]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A regression file is not a valid scenario.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A scenario could not be written as TOML.
    #[error("cannot write scenario `{name}` as TOML: {message}")]
    Serialize {
        /// Scenario name.
        name: String,
        /// What the serializer said.
        message: String,
    },
}

/// The header written above every regression file.
const HEADER: &str = "# A minimal failing case found by `hookproof fuzz`. Replay it with\n\
                      #   hookproof run --scenario THIS_FILE\n\
                      # (plus the --sut flags of the fuzz run). `hookproof fuzz` re-checks the\n\
                      # files in its regression directory before generating new cases.\n";

/// `scenario` as scenario-file TOML (without the header).
pub fn to_toml(scenario: &Scenario) -> Result<String, RegressionError> {
    toml::to_string(scenario).map_err(|e| RegressionError::Serialize {
        name: scenario.name.clone(),
        message: e.to_string(),
    })
}

/// Writes `scenario` into `dir` (created if needed) as `NAME.toml`, with
/// the replay command in a header comment. Returns the path. An identical
/// file is reused; a different file of that name is left alone and the
/// case goes to `NAME-2.toml` (or the next free number).
pub fn save(dir: &Path, scenario: &Scenario, command: &str) -> Result<PathBuf, RegressionError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegressionError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let body = to_toml(scenario)?;
    let text = format!(
        "{}# Found with: {command}\n\n{body}",
        HEADER.replace("THIS_FILE", "<this file>")
    );
    for n in 1.. {
        let name = if n == 1 {
            format!("{}.toml", scenario.name)
        } else {
            format!("{}-{n}.toml", scenario.name)
        };
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => return Ok(path),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&path, &text).map_err(io(&path))?;
                return Ok(path);
            }
            Err(e) => return Err(RegressionError::Io { path, source: e }),
        }
    }
    unreachable!("1.. never ends")
}

/// The scenarios kept in `dir`, sorted by file name; none when the directory
/// does not exist yet.
pub fn load(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, RegressionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegressionError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RegressionError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| Ok((path.clone(), scenario::load_file(&path)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, seed: u64) -> Scenario {
        let mut s =
            scenario::parse(&format!("name = \"{name}\"\ndescription = \"d\"\n"), "t").unwrap();
        s.seed = seed;
        s
    }

    #[test]
    fn saves_loads_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let a = scenario("fuzz-a", 1);
        let p1 = save(dir.path(), &a, "hookproof fuzz --seed 1").unwrap();
        // Same case again: the same file, untouched.
        assert_eq!(save(dir.path(), &a, "hookproof fuzz --seed 1").unwrap(), p1);
        // Same name, different content: a new file, the old one kept.
        let b = scenario("fuzz-a", 2);
        let p2 = save(dir.path(), &b, "hookproof fuzz --seed 2").unwrap();
        assert_ne!(p1, p2);
        assert!(p2.ends_with("fuzz-a-2.toml"));
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.len(), 2);
        let seed_of = |p: &PathBuf| loaded.iter().find(|(q, _)| q == p).unwrap().1.seed;
        assert_eq!((seed_of(&p1), seed_of(&p2)), (1, 2));
        let text = std::fs::read_to_string(&p1).unwrap();
        assert!(text.starts_with("# A minimal failing case"));
        assert!(text.contains("# Found with: hookproof fuzz --seed 1"));
    }

    #[test]
    fn a_missing_directory_holds_no_regressions() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("nope")).unwrap().is_empty());
    }

    #[test]
    fn a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.toml"), "name = 3\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
    }
}
