using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VirtioFsd.Sandbox;

/// <summary>
/// <c>--sandbox namespace</c> in the NativeAOT binary: the daemon is started by one clone(2) as pid 1 of its new
/// namespaces (Native/spawn_namespaced.c), a direct child of the launch stage. The JIT build has no native code of
/// its own and goes through unshare(1), which stays as a process between the two that only waits.
/// </summary>
internal static partial class NamespaceSpawn
{
    private const ulong CLONE_NEWNS = 0x00020000;
    private const ulong CLONE_NEWUTS = 0x04000000;
    private const ulong CLONE_NEWIPC = 0x08000000;
    private const ulong CLONE_NEWUSER = 0x10000000;
    private const ulong CLONE_NEWPID = 0x20000000;
    private const ulong CLONE_NEWNET = 0x40000000;

    /// <summary>The namespaces of <c>unshare --mount --pid --ipc --uts --net</c>, the set the Rust virtiofsd makes.</summary>
    private const ulong Namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;

    /// <summary>
    /// The native code is linked into the NativeAOT binary only (VirtioFsd.csproj, CompileNativeSources), the one
    /// build that cannot generate code at run time.
    /// </summary>
    public static bool IsAvailable => !RuntimeFeature.IsDynamicCodeSupported;

    /// <summary>
    /// Starts <paramref name="psi"/>'s program with its arguments and environment in new namespaces (and a new user
    /// namespace, whose capabilities stay ambient across the exec, when <paramref name="userNamespace"/>). Returns the
    /// child's pid once it runs the program, or -errno (of clone(2), or of execve(2) in the child).
    /// </summary>
    public static int Start(ProcessStartInfo psi, bool userNamespace)
    {
        ArgumentNullException.ThrowIfNull(psi);
        var strings = new List<nint>();
        try
        {
            nint[] argv = Terminated([psi.FileName, .. psi.ArgumentList], strings);
            nint[] envp = Terminated(psi.Environment.Where(e => e.Value is not null).Select(e => $"{e.Key}={e.Value}"), strings);
            long r = SpawnNamespaced(argv[0], argv, envp, Namespaces | (userNamespace ? CLONE_NEWUSER : 0), userNamespace ? 1 : 0);
            return (int)r;
        }
        finally
        {
            foreach (nint s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
        }
    }

    /// <summary>The strings as a NULL-terminated array of UTF-8 C strings, each also added to <paramref name="owned"/> to be freed.</summary>
    private static nint[] Terminated(IEnumerable<string> items, List<nint> owned)
    {
        var array = new List<nint>();
        foreach (string item in items)
        {
            nint s = Marshal.StringToCoTaskMemUTF8(item);
            owned.Add(s);
            array.Add(s);
        }
        array.Add(0);
        return [.. array];
    }

    [LibraryImport("virtiofsd_native", EntryPoint = "virtiofsd_spawn_namespaced")]
    private static partial long SpawnNamespaced(nint path, nint[] argv, nint[] envp, ulong namespaces, int ambient);
}
