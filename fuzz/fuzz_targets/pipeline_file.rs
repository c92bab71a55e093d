//! `warden pipeline plan|run` input: arbitrary bytes as a pipeline file.
//! A plan that comes back lists every stage once, each after what it needs.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = warden::pipeline::spec::parse(data, Path::new("p.toml"), Path::new(".")) else {
        return;
    };
    let pos: BTreeMap<&str, usize> =
        plan.stages.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    assert_eq!(pos.len(), plan.stages.len());
    for (i, s) in plan.stages.iter().enumerate() {
        for n in &s.needs {
            assert!(pos[n.as_str()] < i);
        }
    }
});
