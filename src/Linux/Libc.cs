using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Shared plumbing for the <c>Interop.*.cs</c> files: each syscall group is a partial of
/// <see cref="Libc"/> with <c>[LibraryImport]</c> declarations (private, suffixed Raw) and
/// public wrappers that return the result or a negative errno, never throwing.
/// </summary>
public static partial class Libc
{
    internal const string Lib = "libc";

    /// <summary>Turns a libc return value into "result or -errno" using the errno saved by the marshaller.</summary>
    internal static long Check(long result) => result < 0 ? -Marshal.GetLastPInvokeError() : result;

    internal static int Check(int result) => result < 0 ? -Marshal.GetLastPInvokeError() : result;
}
