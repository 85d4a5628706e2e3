using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using Serilog;

namespace VirtioFsd.Sandbox;

/// <summary>
/// Once the share is the root, the .NET runtime can no longer open its own files: assemblies load lazily
/// from the shared framework directory and the application directory, both outside the share. So before
/// the root changes, every assembly reachable through references from what is loaded is loaded now
/// (the transitive closure; a few dozen framework assemblies, mapped, not copied), and the native shim
/// libSystem.Native is made resident by using it. Anything loaded by name at run time outside that
/// closure would fail after the pivot with FileNotFoundException; <see cref="ReportLateLoads"/> logs it.
/// A NativeAOT binary has no assemblies to load: all code is compiled into the one file, which the kernel
/// keeps mapped, and libSystem.Native is linked into it statically. There only the first-use state below
/// (urandom, console streams) is set up.
/// </summary>
internal static class RuntimePreload
{
    public static int LoadReferenceClosure(ILogger log)
    {
        ArgumentNullException.ThrowIfNull(log);
        // IsDynamicCodeSupported is false exactly in NativeAOT, the one build where assemblies are not files.
        int loaded = 0;
        if (RuntimeFeature.IsDynamicCodeSupported)
        {
            loaded = LoadAssemblyFiles(log);
            // The cryptographic RNG goes through OpenSSL (libcrypto, megabytes resident once loaded), which the
            // closure just made loadable; the daemon itself never calls it. The NativeAOT build leaves it out
            // (the compiler drops this branch; docs/benchmark.md has the idle RSS with and without it).
            Span<byte> random = stackalloc byte[16];
            System.Security.Cryptography.RandomNumberGenerator.Fill(random);
        }
        TouchFirstUseState();
        return loaded;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026:RequiresUnreferencedCode",
        Justification = "Runs only where code is JIT-compiled from assembly files, which are never trimmed here: "
            + "the reference metadata it walks is complete. The NativeAOT build (trimmed) skips it.")]
    private static int LoadAssemblyFiles(ILogger log)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<Assembly>(AppDomain.CurrentDomain.GetAssemblies());
        foreach (Assembly a in pending)
        {
            seen.Add(a.GetName().Name ?? "");
        }
        int loaded = 0;
        while (pending.TryDequeue(out Assembly? assembly))
        {
            foreach (AssemblyName reference in assembly.GetReferencedAssemblies())
            {
                if (!seen.Add(reference.Name ?? ""))
                {
                    continue;
                }
                try
                {
                    pending.Enqueue(Assembly.Load(reference));
                    loaded++;
                }
                catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
                {
                    // A reference the platform does not carry (e.g. Windows-only facades) is never used here either.
                    log.Debug("Preload: {Assembly:l} not loadable: {Error:l}", reference.Name, e.Message);
                }
            }
        }
        return loaded;
    }

    private static void TouchFirstUseState()
    {
        // Touch libSystem.Native (pid, environment, console streams) so it is mapped before / changes.
        _ = Environment.ProcessId;
        Console.Out.Flush();
        Console.Error.Flush();
        // libSystem.Native opens /dev/urandom once, on first use, and keeps the fd: Guid.NewGuid (which
        // Serilog reaches through Activity's type initializer) throws CryptographicException when it is
        // first needed after /dev is gone, so it is used now.
        _ = Guid.NewGuid();
        _ = System.Diagnostics.Activity.Current;
    }

    /// <summary>Logs any assembly load attempted after the pivot: it cannot succeed, and the log says why.</summary>
    public static void ReportLateLoads(ILogger log)
    {
        ArgumentNullException.ThrowIfNull(log);
        AppDomain.CurrentDomain.AssemblyResolve += (_, args) =>
        {
            log.Error("Assembly {Assembly:l} requested after the sandbox hid the runtime directory; it was not preloaded", args.Name);
            return null;
        };
    }
}
