using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.Packaging;

/// <summary>
/// The NativeAOT publish (what scripts/setup.sh and scripts/package.sh ship) lays its managed methods out in the order
/// of src/VirtioFsd/code-layout.txt, and that file still names the methods the compiler makes: a renamed request
/// path would silently scatter the code a loaded daemon runs over the binary again (RSS under load +1 MiB).
/// </summary>
[Collection(NativeAotCollection.Name)]
public class NativeAotLayoutTests(NativeAotPublish aot)
{
    [Fact]
    public void The_native_binary_lays_out_methods_in_the_order_of_the_layout_file()
    {
        string dbg = aot.Symbols;
        Assert.True(File.Exists(dbg), $"no symbols at {dbg}");

        IReadOnlyDictionary<string, ulong> address = aot.Functions;

        string[] layout = File.ReadAllLines(Path.Combine(VmRun.RepoRoot, "src", "VirtioFsd", "code-layout.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        string[] found = layout.Where(address.ContainsKey).ToArray();
        // Stale names are skipped by the compiler; most must still be there for the layout to do its work.
        Assert.True(found.Length >= layout.Length * 9 / 10,
            $"only {found.Length} of the {layout.Length} methods of code-layout.txt are in the binary: run scripts/code_layout.sh");

        // Managed methods (the file also names runtime functions written in C++ and assembly, which the linker
        // places and the order cannot move) come out of the compiler in the file's order, ahead of every other
        // managed method.
        string first = found.First(n => !IsRuntime(n));
        ulong start = address[first];
        ulong[] ordered = found.Where(n => !IsRuntime(n) && address[n] >= start).Select(n => address[n]).ToArray();
        Assert.True(ordered.Length >= found.Count(n => !IsRuntime(n)) * 9 / 10, "managed methods of the file lie before its first one");
        for (int i = 1; i < ordered.Length; i++)
        {
            Assert.True(ordered[i] > ordered[i - 1], $"method {i} of the layout is not after method {i - 1}");
        }
        ulong end = ordered[^1];
        int strangers = address.Values.Count(a => a > start && a < end) - ordered.Length;
        Assert.True(strangers < ordered.Length / 10, $"{strangers} methods not in the layout lie among its {ordered.Length}");
    }

    /// <summary>
    /// Functions the order cannot move: the runtime's C++ and assembly (no "__" between type and method, or a C++
    /// mangled name) and the compiler's small stubs ("__GetGCStaticBase_...", "__DelegateCtor_..."), which it
    /// emits with the runtime's code.
    /// </summary>
    private static bool IsRuntime(string name)
        => !name.Contains("__", StringComparison.Ordinal) || name.StartsWith("_Z", StringComparison.Ordinal)
            || name.StartsWith("__", StringComparison.Ordinal);
}
