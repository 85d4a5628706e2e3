using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Splits the NUL-terminated names of a request body. A name must be non-empty, at most NAME_MAX
/// bytes and NUL-terminated; after the last name nothing may follow (which also catches a name
/// with an interior NUL, as its tail would be left over).
/// </summary>
internal static class RequestNames
{
    /// <summary>Takes one name off the front of <paramref name="rest"/>; 0 or -errno.</summary>
    public static int TakeName(scoped ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> name)
        => Take(ref rest, FuseConstants.NameMax, out name);

    /// <summary>Takes a symlink target: non-empty and shorter than PATH_MAX.</summary>
    public static int TakeLinkTarget(scoped ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> target)
        => Take(ref rest, FuseConstants.PathMax - 1, out target);

    /// <summary>0 when nothing is left after the last name, else -EINVAL.</summary>
    public static int End(ReadOnlySpan<byte> rest) => rest.IsEmpty ? 0 : -Errno.EINVAL;

    private static int Take(scoped ref ReadOnlySpan<byte> rest, int maximum, out ReadOnlySpan<byte> name)
    {
        name = default;
        int nul = rest.IndexOf((byte)0);
        if (nul < 0)
        {
            return -Errno.EINVAL;
        }

        if (nul == 0)
        {
            return -Errno.EINVAL;
        }

        if (nul > maximum)
        {
            return -Errno.ENAMETOOLONG;
        }

        name = rest[..nul];
        rest = rest[(nul + 1)..];
        return 0;
    }
}
