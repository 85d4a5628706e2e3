using System.Diagnostics;

namespace VirtioFsd.Bench.Report;

/// <summary>What the figures were measured on: CPUs, CPU model, kernel, runtime, the C daemon's version.</summary>
public sealed record MachineInfo(int Cpus, string CpuModel, string Kernel, string Runtime, string CVersion)
{
    public static MachineInfo Collect(string cDaemon)
    {
        string model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        string kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "unknown";
        return new MachineInfo(Environment.ProcessorCount, model, kernel,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, FirstLine(cDaemon, "--version"));
    }

    private static string FirstLine(string exe, string arg)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(exe, arg) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string line = p.StandardOutput.ReadLine() ?? "";
            p.WaitForExit();
            return line.Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not installed";
        }
    }
}
