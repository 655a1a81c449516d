# Reference for benchmarks/deps_kotlin_ruby_scala.py: `ruby deps_ruby_reference.rb ROOT < paths`.
# Reference: Ruby's own parser (RubyVM::AbstractSyntaxTree) finds require/require_relative/load/
# autoload calls; Ruby's own $LOAD_PATH.resolve_feature_path resolves features.
require "json"
root = File.expand_path(ARGV[0])
# The load path as the project's own tools set it: each gemspec's require_paths (evaluated by
# RubyGems), plus the test/ or spec/ directory beside it (rake's TestTask, RSpec).
# A file is run by the tools of the gem it belongs to (the nearest gemspec above it): that gem's
# directories come first, the monorepo's other gems after them.
gems = {} # gem directory -> its load path entries
Dir.glob("**/*.gemspec", base: root).sort.each do |g|
  dir = File.expand_path(File.dirname(g), root)
  spec = Dir.chdir(dir) { Gem::Specification.load(File.basename(g)) } rescue nil
  entries = (spec ? spec.require_paths : ["lib"]).map { |p| File.expand_path(p, dir) }
  %w[test spec].each { |t| entries << File.join(dir, t) if File.directory?(File.join(dir, t)) }
  (gems[dir] ||= []).concat(entries)
end
system_path = $LOAD_PATH.dup
files = $stdin.read.split("\n")
SAFE = /\A[\sA-Za-z0-9_.,()'"\/\#{}+-]*\z/
def calls(node, out)
  return unless node.is_a?(RubyVM::AbstractSyntaxTree::Node)
  if %i[FCALL CALL VCALL].include?(node.type)
    mid = node.type == :CALL ? node.children[1] : node.children[0]
    recv_ok = node.type != :CALL || (node.children[0]&.type == :CONST && node.children[0].children[0] == :Kernel)
    if recv_ok && %i[require require_relative load autoload].include?(mid)
      args = node.type == :CALL ? node.children[2] : node.children[1]
      out << [mid, args] if args
    end
  end
  node.children.each { |c| calls(c, out) }
end
edges = []
unparsed = []
stats = Hash.new(0)
files.each do |rel|
  abs = File.join(root, rel)
  own = gems.keys.select { |d| abs.start_with?(d + "/") }.max_by(&:size)
  ordered = (own ? gems[own] : []) + gems.values.flatten
  $LOAD_PATH.replace(ordered.uniq + system_path)
  src = File.read(abs) rescue next
  begin
    ast = RubyVM::AbstractSyntaxTree.parse(src, keep_script_lines: true)
  rescue SyntaxError, StandardError
    unparsed << rel # newer syntax than this Ruby (3.1) reads: left out of the comparison
    next
  end
  found = []
  calls(ast, found)
  found.each do |mid, args|
    list = args.type == :LIST ? args.children.compact : []
    arg = mid == :autoload ? list[1] : list[0]
    next unless arg
    value =
      if arg.type == :STR then arg.children[0]
      else
        text = arg.source rescue nil
        next unless text && text =~ SAFE && text =~ /__FILE__|__dir__/ && text !~ /[`;]|\b(system|exec|eval|send)\b/
        begin
          eval(text, binding, abs) # __FILE__ / __dir__ of the importer
        rescue StandardError, ScriptError
          next
        end
      end
    next unless value.is_a?(String)
    stats["statements"] += 1
    target =
      if mid == :require_relative
        base = File.expand_path(value, File.dirname(abs))
        [base, base + ".rb"].find { |p| File.file?(p) && p.end_with?(".rb") }
      elsif value.start_with?("/")
        [value, value + ".rb"].find { |p| File.file?(p) }
      else
        begin
          kind, path = $LOAD_PATH.resolve_feature_path(value)
          kind == :rb ? path : nil
        rescue LoadError
          nil
        end
      end
    next unless target
    target = File.expand_path(target)
    next unless target.start_with?(root + "/")
    edges << [rel, target[(root.size + 1)..]]
  end
end
puts JSON.generate({ "edges" => edges.uniq.sort, "stats" => stats, "unparsed" => unparsed })
