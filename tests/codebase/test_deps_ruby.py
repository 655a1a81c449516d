"""Ruby require resolution on small hand-written repositories."""

from __future__ import annotations

from repoloom.codebase.deps.ruby import mask_ruby
from repoloom.codebase.order import order_files

from ._deps import edges, parse_dir, write_repo

GEM = {
    "rack.gemspec": "Gem::Specification.new do |s|\n  s.require_paths = ['lib']\nend\n",
    "lib/rack.rb": (
        "require 'json'\n"
        "require_relative 'rack/version'\n"
        "module Rack\n"
        '  autoload :Builder, "rack/builder"\n'
        "end\n"
    ),
    "lib/rack/version.rb": "# require 'rack/lint'  (a comment)\nmodule Rack; VERSION = '1'; end\n",
    "lib/rack/builder.rb": (
        "TEMPLATE = <<~RUBY\n  require 'rack/lint'\nRUBY\n"
        "require File.expand_path('../lint', __FILE__)\n"
    ),
    "lib/rack/lint.rb": "module Rack; class Lint; end; end\n",
    "test/helper.rb": "require 'rack'\n",
    "test/spec_lint.rb": "require 'helper'\nrequire File.join(__dir__, '..', 'lib', 'rack', 'lint')\n",
}


def test_require_relative_load_paths_autoload_and_computed_paths(tmp_path):
    res = parse_dir(write_repo(tmp_path, GEM))
    assert set(res.edges) == {
        ("lib/rack.rb", "lib/rack/version.rb"),
        ("lib/rack.rb", "lib/rack/builder.rb"),  # autoload
        ("lib/rack/builder.rb", "lib/rack/lint.rb"),  # File.expand_path("../lint", __FILE__)
        ("test/helper.rb", "lib/rack.rb"),  # lib/ from the gemspec's require_paths
        ("test/spec_lint.rb", "test/helper.rb"),  # test/ is on the load path
        ("test/spec_lint.rb", "lib/rack/lint.rb"),
    }
    # `require 'json'` is a statement that names nothing in the repository
    assert res.per_language["ruby"]["statements"] == 7
    assert res.per_language["ruby"]["resolved"] == 6


def test_comments_strings_heredocs_and_interpolation_are_not_requires():
    text = (
        "=begin\nrequire 'a'\n=end\nx = \"require 'b'\"\ny = <<-EOS\nrequire 'c'\nEOS\n"
        "z = %(require \"d\")\nw = %q[require 'e']\nKernel.require 'f'\n"
    )
    masked = mask_ruby(text)
    assert len(masked) == len(text)
    assert masked.count("require") == 1 and "Kernel.require ' '" in masked


def test_monorepo_of_gems_resolves_to_the_closest_lib(tmp_path):
    e = edges(
        tmp_path,
        {
            "activesupport/lib/active_support.rb": "require 'active_support/core'\n",
            "activesupport/lib/active_support/core.rb": "",
            "actionpack/lib/action_pack.rb": "require 'active_support'\nrequire 'helper'\n",
            "actionpack/lib/helper.rb": "",
            "actionview/lib/helper.rb": "",
            "actionview/lib/action_view.rb": 'require "#{__dir__}/helper"\nrequire x\n',
        },
    )
    assert ("actionpack/lib/action_pack.rb", "activesupport/lib/active_support.rb") in e
    assert ("actionpack/lib/action_pack.rb", "actionpack/lib/helper.rb") in e
    assert ("actionpack/lib/action_pack.rb", "actionview/lib/helper.rb") not in e
    assert ("actionview/lib/action_view.rb", "actionview/lib/helper.rb") in e


def test_sample_order_puts_required_files_first(tmp_path):
    files = {
        "lib/app.rb": "require 'app/engine'\n",
        "lib/app/engine.rb": "require_relative 'parts'\n",
        "lib/app/parts.rb": "module Parts; end\n",
    }
    res = parse_dir(write_repo(tmp_path, files))
    assert order_files(sorted(files), res.edges) == [
        ["lib/app/parts.rb", "lib/app/engine.rb", "lib/app.rb"]
    ]
