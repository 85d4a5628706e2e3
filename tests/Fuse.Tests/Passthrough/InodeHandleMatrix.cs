using VirtioFsd.Fuse.Passthrough;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// The passthrough tests run with fd-pinned inodes; VIRTIOFSD_TEST_INODE_HANDLES=prefer|mandatory runs all of them
/// again with inodes held by file handle, and VIRTIOFSD_TEST_INODE_FD_CACHE=N sets the fd cache (0: every request
/// opens its inode by handle again). The dedicated handle tests (InodeFileHandleTests) run in every set-up.
/// </summary>
internal static class InodeHandleMatrix
{
    public static PassthroughOptions Apply(PassthroughOptions options)
    {
        string? mode = Environment.GetEnvironmentVariable("VIRTIOFSD_TEST_INODE_HANDLES");
        if (string.IsNullOrEmpty(mode))
        {
            return options;
        }
        options = options with
        {
            InodeFileHandles = mode switch
            {
                "prefer" => InodeFileHandleMode.Prefer,
                "mandatory" => InodeFileHandleMode.Mandatory,
                "never" => InodeFileHandleMode.Never,
                _ => throw new ArgumentException($"VIRTIOFSD_TEST_INODE_HANDLES={mode}: expected never, prefer or mandatory"),
            },
        };
        return int.TryParse(Environment.GetEnvironmentVariable("VIRTIOFSD_TEST_INODE_FD_CACHE"), out int n)
            ? options with { InodeFdCacheSize = n }
            : options;
    }
}
