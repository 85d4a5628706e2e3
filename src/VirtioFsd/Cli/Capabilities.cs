namespace VirtioFsd.Cli;

/// <summary>
/// The --print-capabilities answer (QEMU docs/interop/vhost-user.json, "VHostUserBackendCapabilities"):
/// the device type and the optional features this backend really has. The Rust virtiofsd lists
/// "migrate-precopy" and "separate-options"; this daemon has no migration yet, so it lists only
/// "separate-options": it takes --shared-dir, --cache, --sandbox, --xattr, --thread-pool-size, --fd as
/// separate options, which is what libvirt then passes instead of the legacy "-o source=..." form.
/// </summary>
internal static class Capabilities
{
    public static string Json => "{\n  \"type\": \"fs\",\n  \"features\": [\n    \"separate-options\"\n  ]\n}\n";
}
