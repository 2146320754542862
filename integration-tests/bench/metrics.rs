//! What is measured, and the samples collected per runtime.

use std::collections::BTreeMap;

/// One measured quantity. The order of the variants is the order of the report's rows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Metric {
    RunWall,
    RunCpu,
    RunRss,
    CsdWall,
    CsdCpu,
    CreateWall,
    StartWall,
    DeleteWall,
    CreateRss,
    CgroupPeak,
    ExecWall,
    ExecCpu,
    ConcWall,
    ConcCpu,
}

/// Units of a metric; all times are in milliseconds, memory in MiB.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    MiB,
}

impl Metric {
    pub const ALL: &'static [Metric] = &[
        Metric::RunWall,
        Metric::RunCpu,
        Metric::RunRss,
        Metric::CsdWall,
        Metric::CsdCpu,
        Metric::CreateWall,
        Metric::StartWall,
        Metric::DeleteWall,
        Metric::CreateRss,
        Metric::CgroupPeak,
        Metric::ExecWall,
        Metric::ExecCpu,
        Metric::ConcWall,
        Metric::ConcCpu,
    ];

    /// The row label; `n` is the number of concurrent containers, `mem` the cgroup file.
    pub fn label(self, n: usize, mem: &str) -> String {
        match self {
            Metric::RunWall => "`run` /bin/true: wall".into(),
            Metric::RunCpu => "`run` /bin/true: CPU (user+sys)".into(),
            Metric::RunRss => "`run`: peak RSS of the runtime".into(),
            Metric::CsdWall => "create+start+wait+delete: wall".into(),
            Metric::CsdCpu => "create+start+wait+delete: CPU".into(),
            Metric::CreateWall => "`create --pid-file`: wall".into(),
            Metric::StartWall => "`start`: wall".into(),
            Metric::DeleteWall => "`delete` (stopped): wall".into(),
            Metric::CreateRss => "`create`: peak RSS of the runtime".into(),
            Metric::CgroupPeak => format!("container cgroup {mem}"),
            Metric::ExecWall => "`exec` /bin/true: wall".into(),
            Metric::ExecCpu => "`exec` /bin/true: CPU".into(),
            Metric::ConcWall => format!("{n} concurrent `run`: wall / {n}"),
            Metric::ConcCpu => format!("{n} concurrent `run`: CPU / {n}"),
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::RunRss | Metric::CreateRss | Metric::CgroupPeak => Unit::MiB,
            _ => Unit::Ms,
        }
    }
}

/// Samples of one runtime in one scenario, keyed by metric.
#[derive(Default)]
pub struct Samples(pub BTreeMap<Metric, Vec<f64>>);

impl Samples {
    pub fn push(&mut self, m: Metric, v: f64) {
        self.0.entry(m).or_default().push(v);
    }

    pub fn median(&self, m: Metric) -> Option<f64> {
        self.0.get(&m).and_then(|v| quantile(v, 0.5))
    }
}

/// The q-quantile (0..=1) by linear interpolation between closest ranks; None when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

/// A value with its unit, with as many decimals as make sense at its size.
pub fn format_value(v: f64, unit: Unit) -> String {
    let u = match unit {
        Unit::Ms => "ms",
        Unit::MiB => "MiB",
    };
    if v >= 100.0 {
        format!("{v:.0} {u}")
    } else if v >= 10.0 {
        format!("{v:.1} {u}")
    } else {
        format!("{v:.2} {u}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[4.0, 1.0, 2.0, 3.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn quartiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.25), Some(2.0));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(5.0));
    }

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(format_value(6.234, Unit::Ms), "6.23 ms");
        assert_eq!(format_value(17.64, Unit::Ms), "17.6 ms");
        assert_eq!(format_value(212.4, Unit::MiB), "212 MiB");
    }
}
