using System.Diagnostics;

namespace VirtioFsd.TestSupport;

/// <summary>
/// The figures of one case of a micro-benchmark test: five runs after a warm-up (JIT, page tables, io-wq
/// workers), wall time per operation (minimum and median) and process CPU time per operation (median; it
/// includes io-wq worker threads). The machine is shared, so the minimum and the CPU time are the figures least
/// disturbed by other load. Asserts what every run moved, never how long anything took.
/// </summary>
public static class MicroBenchmark
{
    private const int Runs = 5;

    /// <param name="print">Where the line goes (the test's output).</param>
    /// <param name="label">The case, left-aligned in <paramref name="labelWidth"/> columns.</param>
    /// <param name="unit">What one operation is ("read", "write"), for the CPU figure.</param>
    /// <param name="run">Runs the case once; returns the bytes it moved, which must be <paramref name="ops"/> x <paramref name="bytesPerOp"/>.</param>
    public static void Report(Action<string> print, string label, int labelWidth, string unit, int ops, int bytesPerOp, Func<long> run)
    {
        ArgumentNullException.ThrowIfNull(print);
        ArgumentNullException.ThrowIfNull(run);
        run();
        var wall = new double[Runs];
        var cpu = new double[Runs];
        using var self = Process.GetCurrentProcess();
        for (int i = 0; i < Runs; i++)
        {
            self.Refresh();
            TimeSpan cpu0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            long bytes = run();
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            self.Refresh();
            Assert.Equal((long)ops * bytesPerOp, bytes);
            wall[i] = seconds * 1e9 / ops;
            cpu[i] = (self.TotalProcessorTime - cpu0).TotalSeconds * 1e9 / ops;
        }
        Array.Sort(wall);
        Array.Sort(cpu);
        print($"  {label.PadRight(labelWidth)} wall min {wall[0],6:F0} ns  median {wall[Runs / 2],6:F0} ns  cpu {cpu[Runs / 2],6:F0} ns/{unit}");
    }
}
