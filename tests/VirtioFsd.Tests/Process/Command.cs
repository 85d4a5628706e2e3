using System.Diagnostics;
using System.Text;

namespace VirtioFsd.Tests.Process;

/// <summary>Runs a program to completion, stdout and stderr interleaved into one text, with a hang guard (or none: infinite).</summary>
internal static class Command
{
    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> args, TimeSpan hangGuard,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        var output = new StringBuilder();
        using var p = new System.Diagnostics.Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Append(output, e.Data);
        p.ErrorDataReceived += (_, e) => Append(output, e.Data);
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(hangGuard))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            lock (output)
            {
                return (-1, $"{output}\n[{file} killed: still running after {hangGuard.TotalSeconds} s]");
            }
        }
        p.WaitForExit();
        lock (output)
        {
            return (p.ExitCode, output.ToString());
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}
