using System.Globalization;
using VirtioFsd.Fuzz;

// Long runs of a fuzz target: scripts/fuzz.sh TARGET [--seconds N] [--cases N] [--seed S] [--crashers DIR]
// Prints cases/s and each crasher's seed; crashers are appended to DIR/TARGET.txt (default
// tests/Fuzz/crashers), which the suite replays once rebuilt. Exit 1 when a crasher was found.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: fuzz TARGET|all [--seconds N] [--cases N] [--seed S] [--crashers DIR] [--replay SEED]");
    Console.WriteLine($"targets: {string.Join(", ", FuzzTargets.Names)}");
    return args.Length == 0 ? 2 : 0;
}

string targetArg = args[0];
long seed = Environment.TickCount64;
long? cases = null;
TimeSpan? duration = null;
long? replay = null;
string crasherDir = Path.Combine("tests", "Fuzz", "crashers");
for (int i = 1; i < args.Length; i++)
{
    string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--seconds": duration = TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture)); break;
        case "--cases": cases = long.Parse(value, CultureInfo.InvariantCulture); break;
        case "--seed": seed = long.Parse(value, CultureInfo.InvariantCulture); break;
        case "--crashers": crasherDir = value; break;
        case "--replay": replay = long.Parse(value, CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
    i++;
}

string[] targets = targetArg == "all" ? [.. FuzzTargets.Names] : [targetArg];
if (replay is long one)
{
    using IFuzzTarget t = FuzzTargets.Create(targetArg);
    FuzzCrash? crash = FuzzRunner.RunOne(t, one);
    Console.WriteLine(crash is null ? $"{targetArg} seed {one}: ok" : $"{targetArg} seed {one}: CRASH\n{crash.Failure}");
    return crash is null ? 0 : 1;
}

if (cases is null && duration is null)
{
    duration = TimeSpan.FromSeconds(60);
}

int found = 0;
foreach (string target in targets)
{
    Console.WriteLine($"{target}: first seed {seed}");
    FuzzRunResult result = FuzzRunner.Run(target, seed, cases, duration, crash =>
    {
        Console.WriteLine($"CRASH {crash.Target} seed {crash.Seed}: {crash.Failure}");
        Crashers.Save(crasherDir, crash);
    });
    found += result.Crashes.Count;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{target}: {result.Cases} cases in {result.Elapsed.TotalSeconds:F1} s ({result.CasesPerSecond:F0} cases/s), {result.Crashes.Count} crashers"));
}
return found == 0 ? 0 : 1;
