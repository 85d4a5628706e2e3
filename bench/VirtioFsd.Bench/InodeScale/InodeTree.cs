namespace VirtioFsd.Bench.InodeScale;

/// <summary>
/// The tree the inode-scale run walks: <c>d{i}/sub/f{j}</c>, 1,000 empty files per <c>sub</c> (empty: a million
/// of them take inodes but no blocks). Made once per size under the work directory and reused (a marker file
/// says it is complete), since laying out a million files takes longer than walking them.
/// </summary>
public sealed class InodeTree
{
    public const int FilesPerDirectory = 1000;

    private InodeTree(string root, int files)
    {
        Root = root;
        Files = files;
    }

    public string Root { get; }

    public int Files { get; }

    public int Directories => (Files + FilesPerDirectory - 1) / FilesPerDirectory;

    /// <summary>Inodes a full walk looks up: every file, and each top directory with its <c>sub</c>.</summary>
    public int Inodes => Files + (2 * Directories);

    public int FilesIn(int directory) => Math.Min(FilesPerDirectory, Files - (directory * FilesPerDirectory));

    public static InodeTree Ensure(string workDir, int files, TextWriter log)
    {
        string root = Path.Combine(workDir, $"inode-tree-{files}");
        var tree = new InodeTree(root, files);
        string marker = Path.Combine(workDir, $"inode-tree-{files}.complete");
        if (File.Exists(marker))
        {
            return tree;
        }
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
        log.WriteLine($"laying out {files:N0} files under {root} ...");
        for (int d = 0; d < tree.Directories; d++)
        {
            string sub = Path.Combine(root, $"d{d}", "sub");
            Directory.CreateDirectory(sub);
            for (int f = 0; f < tree.FilesIn(d); f++)
            {
                File.Create(Path.Combine(sub, $"f{f}")).Dispose();
            }
        }
        File.WriteAllText(marker, "");
        return tree;
    }
}
