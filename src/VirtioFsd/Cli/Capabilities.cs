namespace VirtioFsd.Cli;

/// <summary>
/// The --print-capabilities answer (QEMU docs/interop/vhost-user.json, "VHostUserBackendCapabilities"):
/// the device type and the optional features this backend really has, as the Rust virtiofsd lists them:
/// "migrate-precopy" (live migration: dirty page logging and the device state transfer, docs/migration.md) and
/// "separate-options" (it takes --shared-dir, --cache, --sandbox, --xattr, --thread-pool-size, --fd as separate
/// options, which is what libvirt then passes instead of the legacy "-o source=..." form).
/// </summary>
internal static class Capabilities
{
    public static string Json => "{\n  \"type\": \"fs\",\n  \"features\": [\n    \"migrate-precopy\",\n    \"separate-options\"\n  ]\n}\n";
}
