// Syntax-only verdicts for repoloom.corpus.frontends: javac's parser, no attribution.
// stdin: one file path a line; stdout: "accept\tjavac parse" or "reject\t<first error>" a line.
import com.sun.source.util.JavacTask;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

public class ParseOnly {
  public static void main(String[] args) throws Exception {
    JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isEmpty()) continue;
      DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
      StandardJavaFileManager files = compiler.getStandardFileManager(diags, null, StandardCharsets.UTF_8);
      List<String> options = List.of("-proc:none", "--release", "17", "--enable-preview", "-Xlint:none");
      try {
        JavacTask task = (JavacTask) compiler.getTask(null, files, diags, options, null, files.getJavaFileObjects(line));
        task.parse();
        String first = null;
        for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
          if (d.getKind() == Diagnostic.Kind.ERROR) {
            first = "line " + d.getLineNumber() + ": " + d.getMessage(null).replace('\n', ' ').replace('\t', ' ');
            break;
          }
        }
        System.out.println(first == null ? "accept\tjavac parse" : "reject\t" + first);
      } catch (Exception e) {
        System.out.println("unknown\t" + e.getClass().getSimpleName());
      }
      files.close();
    }
  }
}
