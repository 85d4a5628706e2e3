namespace VirtioFsd.Linux.Capabilities;

/// <summary>Capability numbers and their names (linux/capability.h), as capabilities(7) and libcap-ng spell them without "CAP_".</summary>
public static class CapabilityNames
{
    private static readonly string[] Names =
    [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
        "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ];

    public const int Chown = 0;
    public const int DacOverride = 1;
    public const int DacReadSearch = 2;
    public const int Fowner = 3;
    public const int Fsetid = 4;
    public const int Setgid = 6;
    public const int Setuid = 7;
    public const int Mknod = 27;
    public const int Setfcap = 31;

    /// <summary>The number of a capability by name, case-insensitive, with or without "cap_"; -1 when unknown.</summary>
    public static int Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.StartsWith("cap_", StringComparison.OrdinalIgnoreCase) ? name[4..] : name;
        return Array.FindIndex(Names, x => string.Equals(x, n, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>"CAP_CHOWN", or "CAP_42" for a number past the table.</summary>
    public static string Describe(int capability) =>
        capability >= 0 && capability < Names.Length ? "CAP_" + Names[capability].ToUpperInvariant() : $"CAP_{capability}";

    /// <summary>The set as names ("CAP_CHOWN, CAP_SETUID"), or "none".</summary>
    public static string Describe(ulong set)
    {
        var names = new List<string>();
        for (int c = 0; c < 64; c++)
        {
            if ((set & (1UL << c)) != 0)
            {
                names.Add(Describe(c));
            }
        }
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }
}
