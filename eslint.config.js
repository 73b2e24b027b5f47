// Lint rules: the recommended sets of ESLint and typescript-eslint, with the project's conventions.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", ".vercel/**", ".netlify/**", ".data/**", "drizzle/**", "scratch/**", "public/**", "bench/.build/**", "dist/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // A leading underscore marks a value deliberately left unused (a destructured-away field).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      // Mail parsing strips NUL and other control characters on purpose.
      "no-control-regex": "off",
    },
  },
);
