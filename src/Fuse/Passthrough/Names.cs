using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Guest-supplied names. Every host path the daemon builds is one name relative to an O_PATH
/// directory fd, so a name must be exactly one component: no '/', not empty, not "." or ".."
/// (which would name the directory itself or step out of it).
/// </summary>
internal static class Names
{
    /// <summary>NAME_MAX (linux/limits.h).</summary>
    public const int NameMax = 255;

    public static bool IsDot(ReadOnlySpan<byte> name) => name.Length == 1 && name[0] == (byte)'.';

    public static bool IsDotDot(ReadOnlySpan<byte> name) => name.Length == 2 && name[0] == (byte)'.' && name[1] == (byte)'.';

    /// <summary>0 for a single ordinary component; -EINVAL for '/', NUL, empty, "." or ".."; -ENAMETOOLONG over NAME_MAX.</summary>
    public static int Validate(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || IsDot(name) || IsDotDot(name) || name.IndexOfAny((byte)'/', (byte)0) >= 0)
        {
            return -Errno.EINVAL;
        }
        return name.Length > NameMax ? -Errno.ENAMETOOLONG : 0;
    }
}
