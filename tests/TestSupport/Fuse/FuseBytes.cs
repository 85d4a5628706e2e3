using System.Runtime.InteropServices;
using System.Text;

namespace VirtioFsd.TestSupport;

/// <summary>The pieces a FUSE request body is made of, as bytes: wire structs and names.</summary>
public static class FuseBytes
{
    /// <summary>A wire struct's bytes (linux/fuse.h layout, little-endian as the guest writes it).</summary>
    public static byte[] Of<T>(in T value)
        where T : unmanaged
        => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();

    /// <summary>A name as the kernel sends it: its UTF-8 bytes and a NUL.</summary>
    public static byte[] Name(string name) => [.. Encoding.UTF8.GetBytes(name), 0];
}
