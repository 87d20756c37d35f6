//! The EAL command line rrid starts DPDK with: the options given before `--`, then what
//! the configuration adds — `dpdk eal-options`, the lcores of `dpdk main-lcore` and
//! `dpdk worker-lcores` (only where the command line names none), and one device option
//! per interface with `dpdk device` (`--vdev SPEC` or `-a PCI`). It also says which DPDK
//! device name each interface's port will have, to find the port id after start.

use config::model::DpdkDevice;
use config::Config;

/// An interface and the name DPDK gives its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDevice {
    pub interface: String,
    pub device: String,
}

/// The EAL argv (program name first) and the interfaces' devices.
pub fn eal_argv(
    program: &str,
    command_line: &[String],
    config: &Config,
) -> (Vec<String>, Vec<InterfaceDevice>) {
    let mut argv = vec![program.to_string()];
    argv.extend(command_line.iter().cloned());
    argv.extend(config.dpdk.eal_options.iter().map(|o| o.value.clone()));
    let names_lcores = argv
        .iter()
        .any(|a| a == "-l" || a == "-c" || a.starts_with("--lcores") || a.starts_with("-l"));
    if !names_lcores {
        let main = config.dpdk.main_lcore.as_ref().map(|m| m.value);
        let workers = config
            .dpdk
            .worker_lcores
            .as_ref()
            .map(|w| w.value.clone())
            .unwrap_or_default();
        if main.is_some() || !workers.is_empty() {
            let mut all: Vec<u32> = main.into_iter().chain(workers).collect();
            all.sort_unstable();
            all.dedup();
            let list: Vec<String> = all.iter().map(u32::to_string).collect();
            argv.push("-l".into());
            argv.push(list.join(","));
            if let Some(m) = main {
                argv.push("--main-lcore".into());
                argv.push(m.to_string());
            }
        }
    }
    let mut devices = Vec::new();
    for iface in &config.interfaces {
        let Some(dev) = &iface.dpdk_device else {
            continue;
        };
        let device = match &dev.value {
            DpdkDevice::Vdev(spec) => {
                argv.push("--vdev".into());
                argv.push(spec.clone());
                spec.split(',').next().unwrap_or(spec).to_string()
            }
            DpdkDevice::Pci(addr) => {
                argv.push("-a".into());
                argv.push(addr.clone());
                addr.clone()
            }
        };
        devices.push(InterfaceDevice {
            interface: iface.name.value.clone(),
            device,
        });
    }
    (argv, devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_adds_lcores_and_devices() {
        let c = config::check(
            "dpdk main-lcore 0\ndpdk worker-lcores 1\ndpdk eal-options --no-huge -m 256\n\
             interface GigabitEthernet0/0\n dpdk device vdev net_memif0,role=server,id=0\n\
             interface GigabitEthernet0/1\n dpdk device pci 0000:03:00.0\n",
        );
        assert!(!c.diagnostics.has_errors(), "{:?}", c.diagnostics);
        let (argv, devices) = eal_argv("rrid", &["--no-pci".into()], &c.config);
        assert_eq!(
            argv,
            [
                "rrid",
                "--no-pci",
                "--no-huge",
                "-m",
                "256",
                "-l",
                "0,1",
                "--main-lcore",
                "0",
                "--vdev",
                "net_memif0,role=server,id=0",
                "-a",
                "0000:03:00.0"
            ]
        );
        assert_eq!(devices[0].device, "net_memif0");
        assert_eq!(devices[1].interface, "GigabitEthernet0/1");
    }

    #[test]
    fn command_line_lcores_win() {
        let c = config::check("dpdk worker-lcores 1-3\n");
        let (argv, _) = eal_argv("rrid", &["-l".into(), "5".into()], &c.config);
        assert_eq!(argv, ["rrid", "-l", "5"]);
    }
}
