using System.Globalization;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.Packaging;

/// <summary>
/// What the NativeAOT binary does before the socket is ready, made cheaper (docs/benchmark.md "One native binary"):
/// the zero-filled data the runtime unpacks its type data into is made resident by one call from an ELF
/// constructor (src/VirtioFsd/Native/populate_zero_fill.c), and our libc calls are bound by the linker, not looked
/// up with dlopen.
/// </summary>
[Collection(NativeAotCollection.Name)]
public class NativeStartupTests(NativeAotPublish aot)
{
    private static readonly string ConstructorSource = Path.Combine(VmRun.RepoRoot, "src", "VirtioFsd", "Native", "populate_zero_fill.c");

    /// <summary>
    /// C for the probes: <c>count(base, size)</c> prints how many of the whole pages in [base, base + size) are resident
    /// (mincore(2)) and how many there are, for up to 1 MiB.
    /// </summary>
    private const string CountPages = """
        #include <stdint.h>
        #include <stdio.h>
        #include <sys/mman.h>
        #include <unistd.h>
        static unsigned char vec[(1 << 20) / 4096 + 1];
        static void count(const char *base, size_t size)
        {
            uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
            uintptr_t start = ((uintptr_t)base + page - 1) & ~(page - 1);
            uintptr_t end = ((uintptr_t)base + size) & ~(page - 1);
            if (mincore((void *)start, end - start, vec) != 0) { perror("mincore"); _exit(2); }
            size_t resident = 0, pages = (end - start) / page;
            for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
            printf("%zu %zu ", resident, pages);
        }

        """;

    /// <summary>A program that asks, first thing in main, how much of its 1 MiB of .bss is resident.</summary>
    private const string Probe = CountPages + """
        static char big[1 << 20];
        int main(void)
        {
            count(big, sizeof big);
            printf("\n");
            return 0;
        }
        """;

    [Theory]
    [InlineData("-pie")]
    [InlineData("-no-pie")]
    public void The_constructor_makes_the_program_zero_fill_resident_before_main(string pie)
    {
        using var dir = new TempDirectory("virtiofsd-zero-fill-");
        string with = Compile(dir, Probe, pie, "with", withConstructor: true);
        string without = Compile(dir, Probe, pie, "without", withConstructor: false);

        (int resident, int pages) = Resident(NativeAotPublish.Run(with, dir.Path));
        Assert.Equal(pages, resident);
        // The control: nothing touched .bss, so without the constructor none of it is resident.
        (resident, pages) = Resident(NativeAotPublish.Run(without, dir.Path));
        Assert.True(pages >= 255, $"{pages} pages");
        Assert.Equal(0, resident);
    }

    /// <summary>
    /// The NativeAOT layout in small: a .bss the program barely uses, then a zero-filled .hydrated section (what the
    /// runtime unpacks its type data into). Prints the resident and total pages of each, first thing in main.
    /// </summary>
    private const string HydratedProbe = CountPages + """
        __asm__(".section .hydrated,\"aw\",@nobits\n.balign 4096\nhydrated_data:\n.zero 1048576\n.previous\n");
        extern char hydrated_data[];
        static char bss[256 << 10];
        int main(void)
        {
            count(hydrated_data, 1 << 20);
            count(bss, sizeof bss);
            printf("\n");
            return 0;
        }
        """;

    [Theory]
    [InlineData("-pie")]
    [InlineData("-no-pie")]
    public void With_a_hydrated_section_the_constructor_populates_it_and_leaves_bss_alone(string pie)
    {
        using var dir = new TempDirectory("virtiofsd-hydrated-");
        string with = Compile(dir, HydratedProbe, pie, "with", withConstructor: true);
        // The probe really has the layout: .hydrated a zero-filled section after .bss.
        string sections = NativeAotPublish.Run("readelf", dir.Path, "-S", "-W", with);
        Assert.Contains(sections.Split('\n'), l => l.Contains(".hydrated", StringComparison.Ordinal) && l.Contains("NOBITS", StringComparison.Ordinal));

        int[] counts = [.. NativeAotPublish.Run(with, dir.Path).Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => int.Parse(f, CultureInfo.InvariantCulture))];
        Assert.Equal(4, counts.Length);
        Assert.True(counts[1] >= 255, $"{counts[1]} .hydrated pages");
        Assert.Equal(counts[1], counts[0]);
        Assert.True(counts[3] >= 63, $"{counts[3]} .bss pages");
        Assert.Equal(0, counts[2]);
    }

    [Fact]
    public void The_published_binary_runs_the_constructor()
    {
        // .init_array's entries are relative relocations in a position-independent executable: one of them must be
        // the constructor's address.
        (ulong start, ulong size) = Section(NativeAotPublish.Run("readelf", VmRun.RepoRoot, "-S", "-W", aot.Binary), ".init_array");
        Assert.True(aot.Functions.TryGetValue("virtiofsd_populate_zero_fill", out ulong constructor), "no constructor symbol");
        var entries = new List<ulong>();
        foreach (string line in NativeAotPublish.Run("readelf", VmRun.RepoRoot, "-r", "-W", aot.Binary).Split('\n'))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 4 && f[2] == "R_X86_64_RELATIVE" && ulong.TryParse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong offset)
                && offset >= start && offset < start + size)
            {
                entries.Add(ulong.Parse(f[^1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }
        Assert.Contains(constructor, entries);
    }

    [Fact]
    public void Libc_calls_are_bound_by_the_dynamic_linker()
    {
        // The runtime does not use these; our [LibraryImport("libc")] declarations do. Bound at link time, they are
        // undefined symbols of the binary; looked up at run time (no DirectPInvoke), they would not be, and the
        // first call would probe ~40 paths for a "libc" library.
        string undefined = NativeAotPublish.Run("nm", VmRun.RepoRoot, "-D", "--undefined-only", aot.Binary);
        string[] names = [.. undefined.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "").Select(n => n.Split('@')[0])];
        Assert.Contains("open_by_handle_at", names);
        Assert.Contains("name_to_handle_at", names);
    }

    /// <summary>Builds <paramref name="source"/> into <paramref name="name"/> in <paramref name="dir"/>, with or without the
    /// constructor linked in; returns the program's path.</summary>
    private static string Compile(TempDirectory dir, string source, string pie, string name, bool withConstructor)
    {
        string probe = Path.Combine(dir.Path, name + ".c");
        File.WriteAllText(probe, source);
        string program = Path.Combine(dir.Path, name);
        string[] sources = withConstructor ? [probe, ConstructorSource] : [probe];
        NativeAotPublish.Run("gcc", dir.Path, ["-O2", "-Wall", "-Werror", pie, "-o", program, .. sources]);
        return program;
    }

    private static (int Resident, int Pages) Resident(string output)
    {
        string[] f = output.Trim().Split(' ');
        return (int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture));
    }

    private static (ulong Address, ulong Size) Section(string readelf, string name)
    {
        foreach (string line in readelf.Split('\n'))
        {
            // "  [26] .init_array       INIT_ARRAY      00000000004ecd98 4ebd98 000040 08  WA  0   0  8"
            string[] f = line.Replace("[ ", "[", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 6 && f[1] == name)
            {
                return (ulong.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture), ulong.Parse(f[5], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }
        throw new InvalidOperationException($"no {name} section");
    }
}
