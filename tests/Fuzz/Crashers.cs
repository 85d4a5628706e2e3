using System.Globalization;
using System.Reflection;

namespace VirtioFsd.Fuzz;

/// <summary>
/// Saved crashers: <c>tests/Fuzz/crashers/TARGET.txt</c>, one case seed per line (text after '#' is a
/// note). The files are embedded in this assembly so the suite replays them without knowing the
/// source tree (FuzzRegressionTests); the long-run command appends new ones to the source files.
/// </summary>
public static class Crashers
{
    /// <summary>Every saved (target, seed) embedded in this build.</summary>
    public static IReadOnlyList<(string Target, long Seed)> Saved()
    {
        var result = new List<(string, long)>();
        Assembly assembly = typeof(Crashers).Assembly;
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("crashers/", StringComparison.Ordinal)))
        {
            string target = Path.GetFileNameWithoutExtension(resource);
            using Stream stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            result.AddRange(Parse(reader.ReadToEnd()).Select(seed => (target, seed)));
        }
        return result;
    }

    public static IEnumerable<long> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (string raw in text.Split('\n'))
        {
            int hash = raw.IndexOf('#', StringComparison.Ordinal);
            string line = (hash >= 0 ? raw[..hash] : raw).Trim();
            if (line.Length > 0)
            {
                yield return long.Parse(line, CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>Appends a crasher to <paramref name="directory"/>/TARGET.txt with the first line of its failure.</summary>
    public static void Save(string directory, FuzzCrash crash)
    {
        ArgumentNullException.ThrowIfNull(crash);
        Directory.CreateDirectory(directory);
        string firstLine = crash.Failure.Split('\n')[0].Trim();
        File.AppendAllText(Path.Combine(directory, crash.Target + ".txt"),
            string.Create(CultureInfo.InvariantCulture, $"{crash.Seed} # {DateTime.UtcNow:yyyy-MM-dd}: {firstLine}\n"));
    }
}
