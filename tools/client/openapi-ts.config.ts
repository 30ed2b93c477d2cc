// `npm run generate`: tools/client/openapi.json (the API's document) → src/client, the shape the
// reference frontend generates: the legacy axios client and one `<Tag>Service` class per tag.
import { defineConfig } from "@hey-api/openapi-ts"

export default defineConfig({
  input: "./openapi.json",
  output: "./src/client",
  plugins: [
    "legacy/axios",
    {
      name: "@hey-api/sdk",
      asClass: true,
      operationId: true,
      classNameBuilder: "{{name}}Service",
      // `ItemsService.readItems`, not `ItemsService.itemsReadItems`: the tag is already the class.
      methodNameBuilder: (operation) => {
        const { name, service } = operation as unknown as { name: string; service?: string }
        const tagged = service !== undefined && name.toLowerCase().startsWith(service.toLowerCase())
        const method = tagged ? name.slice(service.length) : name
        return method.charAt(0).toLowerCase() + method.slice(1)
      },
    },
    { name: "@hey-api/schemas", type: "json" },
  ],
})
