using System.Diagnostics;
using System.Globalization;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.Packaging;

/// <summary>
/// One NativeAOT publish of the daemon (what scripts/setup.sh and scripts/package.sh ship, ~50 s), shared by the
/// tests that look inside the binary.
/// </summary>
public sealed class NativeAotPublish : IDisposable
{
    private readonly TempDirectory _artifacts = new("virtiofsd-aot-");

    public NativeAotPublish()
    {
        Run("dotnet", VmRun.RepoRoot, "publish", "src/VirtioFsd", "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true",
            "--nologo", "-v", "q", "--artifacts-path", _artifacts.Path);
        Binary = Path.Combine(_artifacts.Path, "publish", "VirtioFsd", "release_linux-x64", "virtiofsd");
    }

    /// <summary>The published binary; its symbols are in <see cref="Symbols"/>.</summary>
    public string Binary { get; }

    public string Symbols => Binary + ".dbg";

    /// <summary>The binary's function symbols (nm types t and T) and their addresses, from <see cref="Symbols"/>.</summary>
    public IReadOnlyDictionary<string, ulong> Functions => _functions ??= ReadFunctions(Symbols);

    private Dictionary<string, ulong>? _functions;

    private static Dictionary<string, ulong> ReadFunctions(string symbols)
    {
        var address = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (string line in Run("nm", VmRun.RepoRoot, "-n", symbols).Split('\n'))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 3 && f[1] is "t" or "T")
            {
                address.TryAdd(f[2], ulong.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }
        return address;
    }

    public void Dispose() => _artifacts.Dispose();

    /// <summary>Runs a program to its end; its standard output, or a failed assertion with everything it printed.</summary>
    public static string Run(string file, string directory, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stdout}{stderr.Result}");
        return stdout;
    }
}

[CollectionDefinition(Name)]
public sealed class NativeAotCollection : ICollectionFixture<NativeAotPublish>
{
    public const string Name = "NativeAot";
}
