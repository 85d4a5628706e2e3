using VirtioFsd.Linux.Capabilities;

namespace VirtioFsd.Cli;

/// <summary>One item of --modcaps: add or remove a capability from the set the daemon keeps.</summary>
public readonly record struct CapabilityChange(bool Add, int Capability);

/// <summary>
/// The --modcaps (and legacy <c>-o modcaps</c>) grammar of both virtiofsd daemons: a colon-separated list, each
/// item "+" or "-" then a capability name, case-insensitive, with or without "cap_" ("+sys_admin:-mknod").
/// </summary>
internal static class CapabilityChanges
{
    /// <summary>The changes in order, or null with <paramref name="error"/> saying which item is wrong.</summary>
    public static IReadOnlyList<CapabilityChange>? Parse(string text, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var changes = new List<CapabilityChange>();
        foreach (string item in text.Split(':'))
        {
            if (item.Length < 2 || (item[0] != '+' && item[0] != '-'))
            {
                error = $"'{item}' is not +NAME or -NAME";
                return null;
            }
            int capability = CapabilityNames.Parse(item[1..]);
            if (capability < 0)
            {
                error = $"unknown capability '{item[1..]}'";
                return null;
            }
            changes.Add(new CapabilityChange(item[0] == '+', capability));
        }
        error = null;
        return changes;
    }
}
