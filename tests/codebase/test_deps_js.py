"""JavaScript/TypeScript specifier resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_import_forms_and_extension_resolution(tmp_path):
    e = edges(
        tmp_path,
        {
            "src/index.js": (
                "import a from './a';\nimport { b } from \"./b.mjs\";\nimport './side';\n"
                "export * from './re';\nexport { x as y } from './re2.jsx';\n"
                "const c = require('./c');\nconst d = await import('./d');\n"
                "import React from 'react';\nconst fs = require('fs');\n"
            ),
            "src/a.js": "",
            "src/b.mjs": "",
            "src/side.cjs": "",
            "src/re.js": "",
            "src/re2.jsx": "",
            "src/c.json": "{}",
            "src/d/index.js": "",
        },
    )
    assert e == {
        ("src/index.js", "src/a.js"),
        ("src/index.js", "src/b.mjs"),
        ("src/index.js", "src/side.cjs"),
        ("src/index.js", "src/re.js"),
        ("src/index.js", "src/re2.jsx"),
        ("src/index.js", "src/c.json"),
        ("src/index.js", "src/d/index.js"),
    }


def test_typescript_js_extension_maps_to_ts_source_and_dts(tmp_path):
    e = edges(
        tmp_path,
        {
            "lib/main.ts": (
                "import { u } from './util.js';\nimport type { T } from './types';\n"
                "import x = require('../legacy');\n/// <reference path=\"./globals.d.ts\" />\n"
            ),
            "lib/util.ts": "",
            "lib/types.d.ts": "",
            "lib/globals.d.ts": "",
            "legacy/package.json": '{"main": "./dist/entry.js"}',
            "legacy/dist/entry.js": "",
        },
    )
    assert e == {
        ("lib/main.ts", "lib/util.ts"),
        ("lib/main.ts", "lib/types.d.ts"),
        ("lib/main.ts", "legacy/dist/entry.js"),
        ("lib/main.ts", "lib/globals.d.ts"),
    }


def test_tsconfig_paths_and_base_url(tmp_path):
    e = edges(
        tmp_path,
        {
            "tsconfig.json": (
                '{\n  // comment\n  "compilerOptions": {"baseUrl": ".", '
                '"paths": {"@/*": ["src/*"], "~config": ["src/config/index.ts"]},},\n}\n'
            ),
            "src/app.tsx": (
                "import { h } from '@/helpers';\nimport cfg from '~config';\n"
                "import z from 'src/zeta';\nimport lodash from 'lodash';\n"
            ),
            "src/helpers.ts": "",
            "src/config/index.ts": "",
            "src/zeta.ts": "",
        },
    )
    assert e == {
        ("src/app.tsx", "src/helpers.ts"),
        ("src/app.tsx", "src/config/index.ts"),
        ("src/app.tsx", "src/zeta.ts"),
    }


def test_workspace_package_names(tmp_path):
    e = edges(
        tmp_path,
        {
            "packages/core/package.json": '{"name": "@acme/core", "main": "index.js"}',
            "packages/core/index.js": "",
            "packages/core/extra.js": "",
            "packages/app/main.js": "require('@acme/core');\nrequire('@acme/core/extra');\n",
        },
    )
    assert e == {
        ("packages/app/main.js", "packages/core/index.js"),
        ("packages/app/main.js", "packages/core/extra.js"),
    }


def test_comments_strings_templates_and_regex_literals(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "a.js": "",
                "b.js": (
                    "// import a from './a';\n/* require('./a') */\n"
                    "const s = \"import a from './a'\";\n"
                    "const t = `require('./a')`;\n"
                    "const re = /\\/\\/ not a comment/; import './c';\n"
                    "obj.require('./a');\n"
                    "const all = { ...require('./d') };\n"
                ),
                "c.js": "",
                "d.js": "",
            },
        )
    )
    assert res.edges == [("b.js", "c.js"), ("b.js", "d.js")]
    assert res.per_language["javascript"]["statements"] == 2
