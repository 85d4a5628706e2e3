namespace VirtioFsd.Cli;

/// <summary>
/// The --print-capabilities answer (QEMU docs/interop/vhost-user.json, "VHostUserBackendCapabilities"):
/// the device type and the optional features this backend really has. The Rust virtiofsd lists
/// "migrate-precopy" and "separate-options"; this daemon has no migration, and its options are
/// not yet the separate-options set libvirt would pass, so it lists none.
/// </summary>
internal static class Capabilities
{
    public static string Json => "{\n  \"type\": \"fs\",\n  \"features\": []\n}\n";
}
